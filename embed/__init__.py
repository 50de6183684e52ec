"""Images to vectors: the only package of Vitrine that imports TensorFlow.

Importing `embed` itself is light; TensorFlow loads only when `embed.model` is imported
(for an upload, a catalogue build or a search).
"""
