"""Load one image (a path or bytes) into the 224x224 RGB uint8 array the model expects.

No TensorFlow here: this runs in the decoding threads of the offline job and on uploads.
Resize policy: keep the aspect ratio, scale the longer side to 224 and pad the rest to a square
with the median colour of the image border (product photos are shot on plain backgrounds, so
the padding blends in). Squashing to 224x224, as the original notebook did, distorts phone photos (4:3) that
catalogue images (square) never show; padding keeps shapes comparable. Square images, such as
the whole demo catalogue, come out the same under either policy.
"""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

import settings
from common.errors import InputError

ImageSource = Union[str, os.PathLike, bytes, bytearray, memoryview, BinaryIO]

# Describes the steps above for manifests; bump it when any of them changes so old vectors
# are not mixed with new ones.
PREPROCESSING = {
    "version": 1,
    "exif_orientation": "applied",
    "colour": "any mode to RGB; transparency composited on white; 16-bit scaled to 8-bit",
    "resize": f"longer side to {settings.IMAGE_SIZE} (bicubic), padded to square with the border median colour",
    "model_input": "keras.applications.resnet50.preprocess_input (caffe: RGB->BGR, ImageNet mean subtracted)",
}

ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file is an error, not a grey half-image


class ImageError(InputError):
    """An input cannot be used as a product photo. The message is written for a shopper."""


def read_image_bytes(source: ImageSource, max_bytes: int = settings.MAX_IMAGE_BYTES) -> bytes:
    """The raw bytes of a path, bytes or file object, refusing empty or oversize inputs."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise ImageError(f"Cannot open {path.name}: {exc.strerror or exc}.") from exc
        if size > max_bytes:
            raise ImageError(_too_big_bytes(size, max_bytes))
        data = path.read_bytes()
    else:  # a file-like object, e.g. Streamlit's UploadedFile
        data = source.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ImageError(_too_big_bytes(len(data), max_bytes))
    if not data:
        raise ImageError("The file is empty. Please choose a photo (JPEG, PNG or WebP).")
    return data


def _too_big_bytes(size: int, limit: int) -> str:
    return (f"The file is too large ({size / 1e6:.1f} MB); the limit is {limit / 1e6:.0f} MB. "
            "Please upload a smaller photo.")


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode to RGB, composing transparency over white and scaling 16-bit depth."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float32)
        if img.mode.startswith("I;16"):
            lo, hi = 0.0, 65535.0
        else:
            lo, hi = float(arr.min()), float(arr.max())
        scaled = (arr - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(arr)
        img = Image.fromarray(np.clip(scaled + 0.5, 0, 255).astype(np.uint8), mode="L")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    return img.convert("RGB") if img.mode != "RGB" else img


def _pad_to_square(img: Image.Image, size: int) -> Image.Image:
    w, h = img.size
    scale = size / max(w, h)
    new = (max(1, round(w * scale)), max(1, round(h * scale)))
    if new != (w, h):
        img = img.resize(new, Image.Resampling.BICUBIC, reducing_gap=3.0)
    if new == (size, size):
        return img
    arr = np.asarray(img)
    border = np.concatenate([arr[0], arr[-1], arr[:, 0], arr[:, -1]])
    fill = tuple(int(v) for v in np.median(border, axis=0))
    canvas = Image.new("RGB", (size, size), fill)
    canvas.paste(img, ((size - new[0]) // 2, (size - new[1]) // 2))
    return canvas


def load_image(
    source: ImageSource,
    size: int = settings.IMAGE_SIZE,
    *,
    max_bytes: int = settings.MAX_IMAGE_BYTES,
    max_pixels: int = settings.MAX_IMAGE_PIXELS,
) -> np.ndarray:
    """Decode `source` into a (size, size, 3) uint8 RGB array, or raise ImageError."""
    data = read_image_bytes(source, max_bytes)
    try:
        img = Image.open(io.BytesIO(data))
    except UnidentifiedImageError as exc:
        raise ImageError(
            "This file is not a picture we can read. Please upload a JPEG, PNG or WebP photo."
        ) from exc
    except Image.DecompressionBombError as exc:
        raise ImageError("This image is too large to process safely. Please upload a smaller photo.") from exc
    except Exception as exc:  # Pillow raises several types for broken headers
        raise ImageError("This picture is damaged and cannot be opened. Please try another file.") from exc
    with img:
        w, h = img.size
        if w * h > max_pixels:
            raise ImageError(
                f"This image is too large ({w}x{h} pixels, limit {max_pixels / 1e6:.0f} megapixels). "
                "Please upload a smaller photo."
            )
        if w < 1 or h < 1:
            raise ImageError("This picture has no pixels. Please try another file.")
        try:
            if img.format == "JPEG":
                img.draft("RGB", (size, size))  # decode big JPEGs at a reduced scale: much faster
            img.load()
        except Exception as exc:  # truncated data, bad codec stream
            raise ImageError(
                "This picture is damaged or incomplete and cannot be read. Please try another file."
            ) from exc
        try:
            img = ImageOps.exif_transpose(img)
        except Exception:  # malformed EXIF: keep the pixels as stored
            pass
        try:
            rgb = _to_rgb(img)
        except Exception as exc:
            raise ImageError(
                f"This picture uses a colour format we cannot handle ({img.mode}). Please try a JPEG or PNG."
            ) from exc
        out = _pad_to_square(rgb, size)
        return np.asarray(out, dtype=np.uint8).copy()
