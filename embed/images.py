"""Decode one image (a path or bytes) once, then make from it the 224x224 RGB uint8 array the
model expects and, for the app, a picture any browser shows.

No TensorFlow here: this runs in the decoding threads of the offline job and on uploads.
Resize policy: keep the aspect ratio, scale the longer side to 224 and pad the rest to a square
with the median colour of the image border (product photos are shot on plain backgrounds, so
the padding blends in). Squashing to 224x224, as the original notebook did, distorts phone photos (4:3) that
catalogue images (square) never show; padding keeps shapes comparable. Square images, such as
the whole demo catalogue, come out the same under either policy.

What a phone sends is read: JPEG (and MPO), PNG (16-bit too), WebP, GIF, BMP, TIFF, HEIC/HEIF
(through pillow-heif) and AVIF (Pillow's own plugin). Anything else, a drawing, a document, a
web page, a video or a renamed text file, is refused with one line for the shopper.
"""
from __future__ import annotations

import io
import math
import os
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

import settings
from common.errors import InputError

try:  # HEIC/HEIF, the iPhone's default; AVIF is left to Pillow's own plugin (pillow-heif 1.x has none)
    import pillow_heif
except ImportError:  # the message for a HEIC upload says how to install it
    pillow_heif = None
else:
    pillow_heif.register_heif_opener()

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

# The formats Pillow may try, so that no other plugin sees an upload: an EPS would start
# Ghostscript, and weak signatures (PPM's "P3 ...") would call a text file "damaged".
FORMATS = ("JPEG", "MPO", "PNG", "WEBP", "GIF", "BMP", "TIFF", "HEIF", "AVIF")

ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file is an error, not a grey half-image

_PLEASE = "Please upload a photo (JPEG, PNG, HEIC or WebP)."


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
        raise ImageError(f"The file is empty. {_PLEASE}")
    return data


def _too_big_bytes(size: int, limit: int) -> str:
    return (f"The file is too large ({size / 1e6:.1f} MB); the limit is {limit / 1e6:.0f} MB. "
            "Please upload a smaller photo.")


def _ftyp_brands(data: bytes) -> set[bytes]:
    """The brands of an ISO media file (HEIF, AVIF, MP4, MOV), empty for anything else."""
    if data[4:8] != b"ftyp":
        return set()
    size = int.from_bytes(data[:4], "big")
    box = data[8:min(max(size, 16), 256)]
    return {box[0:4]} | {box[i:i + 4] for i in range(8, len(box) - 3, 4)}


_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1",
                b"msf1", b"mif2"}


def _not_readable(data: bytes) -> str:
    """Why Pillow cannot identify these bytes, in words for a shopper."""
    brands = _ftyp_brands(data)
    if brands & {b"avif", b"avis"}:
        return ("AVIF pictures cannot be read here: this server's Pillow has no AVIF support "
                "(it needs Pillow 11.3 or later). Please upload a JPEG or PNG.")
    if brands & _HEIF_BRANDS:
        if pillow_heif is None:
            return ("HEIC/HEIF photos cannot be read here: the server needs the pillow-heif package "
                    "(`pip install pillow-heif`). Please upload a JPEG or PNG meanwhile.")
        return "This HEIC/HEIF file is damaged and cannot be opened. Please try another file."
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    kind = ("a video" if brands
            else "a PDF document" if head.startswith(b"%pdf")
            else "a PostScript (EPS) drawing" if head.startswith((b"%!ps", b"\xc5\xd0\xd3\xc6"))
            else "an SVG drawing" if b"<svg" in head
            else "a web page (HTML)" if head.startswith(b"<!doctype html") or b"<html" in head
            else None)
    if kind is None:
        return f"This file is not a picture we can read. {_PLEASE}"
    return f"This file is {kind}, not a picture we can read. {_PLEASE}"


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


def decode(
    source: ImageSource,
    *,
    draft: int | None = None,
    max_bytes: int = settings.MAX_IMAGE_BYTES,
    max_pixels: int = settings.MAX_IMAGE_PIXELS,
) -> Image.Image:
    """Decode `source` into an upright (EXIF-oriented) RGB picture, or raise ImageError.

    `draft`: for a JPEG, let libjpeg decode at 1/2, 1/4 or 1/8 scale as long as both sides stay
    at least `draft` pixels: much faster for big photos. `load_image` drafts to the model's size,
    so decode with `draft=settings.IMAGE_SIZE` where `model_input` must equal the catalogue's
    vectors' input. None decodes every pixel.
    """
    data = read_image_bytes(source, max_bytes)
    Image.init()  # every plugin registered, so FORMATS is checked against all of them
    try:
        opened = Image.open(io.BytesIO(data), formats=[f for f in FORMATS if f in Image.OPEN])
    except UnidentifiedImageError as exc:
        raise ImageError(_not_readable(data)) from exc
    except Image.DecompressionBombError as exc:
        raise ImageError("This image is too large to process safely. Please upload a smaller photo.") from exc
    except Exception as exc:  # Pillow raises several types for broken headers
        raise ImageError("This picture is damaged and cannot be opened. Please try another file.") from exc
    with opened:
        img = opened
        w, h = img.size
        if w * h > max_pixels:
            raise ImageError(
                f"This image is too large ({w}x{h} pixels, limit {max_pixels / 1e6:.0f} megapixels). "
                "Please upload a smaller photo."
            )
        if w < 1 or h < 1:
            raise ImageError("This picture has no pixels. Please try another file.")
        try:
            if draft is not None and img.format == "JPEG":
                img.draft("RGB", (draft, draft))  # decode big JPEGs at a reduced scale: much faster
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
        return rgb.copy() if rgb is opened else rgb  # detached from the file, which closes here


def _border_fill(img: Image.Image) -> tuple[int, ...]:
    """The median colour of the picture's outermost pixels: the background of a product photo."""
    arr = np.asarray(img)
    border = np.concatenate([arr[0], arr[-1], arr[:, 0], arr[:, -1]])
    return tuple(int(v) for v in np.median(border, axis=0))


def _pad_to(img: Image.Image, size: tuple[int, int]) -> Image.Image:
    """`img` centred on a canvas of `size`, filled with its border colour."""
    if img.size == size:
        return img
    canvas = Image.new("RGB", size, _border_fill(img))
    canvas.paste(img, ((size[0] - img.size[0]) // 2, (size[1] - img.size[1]) // 2))
    return canvas


def model_input(img: Image.Image, size: int = settings.IMAGE_SIZE) -> np.ndarray:
    """A decoded picture as the (size, size, 3) uint8 array the model takes: the longer side
    scaled to `size` (bicubic), the rest padded with the border colour."""
    img = _to_rgb(img)
    w, h = img.size
    scale = size / max(w, h)
    new = (max(1, round(w * scale)), max(1, round(h * scale)))
    if new != (w, h):
        img = img.resize(new, Image.Resampling.BICUBIC, reducing_gap=3.0)
    return np.asarray(_pad_to(img, (size, size)), dtype=np.uint8).copy()


def display_picture(img: Image.Image, max_side: int = 640, *, min_side: int = 128,
                    max_aspect: float = 4.0, quality: int = 90) -> bytes:
    """A decoded picture as a JPEG any browser shows (8-bit RGB, upright), for the page.

    The longer side is at most `max_side`; a tiny picture is enlarged by a whole factor
    (pixels kept sharp) towards `min_side` but never beyond it; a strip longer than
    `max_aspect`:1 is padded with its border colour, as the model input is, so its thumbnail
    is not a hairline.
    """
    img = _to_rgb(img)
    w, h = img.size
    longer = max(w, h)
    if longer > max_side:
        scale = max_side / longer
        img = img.resize((max(1, round(w * scale)), max(1, round(h * scale))),
                         Image.Resampling.LANCZOS, reducing_gap=3.0)
    elif longer * 2 <= min_side:
        factor = min_side // longer
        img = img.resize((w * factor, h * factor), Image.Resampling.NEAREST)
    w, h = img.size
    img = _pad_to(img, (max(w, math.ceil(h / max_aspect)), max(h, math.ceil(w / max_aspect))))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def load_image(
    source: ImageSource,
    size: int = settings.IMAGE_SIZE,
    *,
    max_bytes: int = settings.MAX_IMAGE_BYTES,
    max_pixels: int = settings.MAX_IMAGE_PIXELS,
) -> np.ndarray:
    """Decode `source` into a (size, size, 3) uint8 RGB array, or raise ImageError."""
    return model_input(decode(source, draft=size, max_bytes=max_bytes, max_pixels=max_pixels), size)
