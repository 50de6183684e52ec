"""What every stage shares and nothing else: the two error types, artifact folders, top-k results,
reading a user's tables and matching names. Imports neither `embed/` nor `recommend/`."""
