"""Image loading: every input mode to RGB, EXIF orientation, resize policy, and bad inputs."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from embed.images import ImageError, load_image
from tests.helpers import encode, product_picture


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "P", "LA", "L", "CMYK", "1", "I;16", "I", "F"])
def test_every_mode_becomes_224_rgb_uint8(mode):
    img = product_picture(3).convert(mode) if mode not in ("I;16", "I", "F") else \
        Image.fromarray((np.linspace(0, 60000, 224 * 224).reshape(224, 224)).astype(
            {"I;16": np.uint16, "I": np.int32, "F": np.float32}[mode]))
    fmt = "TIFF" if mode in ("CMYK", "I;16", "I", "F") else "PNG"
    assert img.mode == mode
    out = load_image(encode(img, fmt))
    assert out.shape == (224, 224, 3) and out.dtype == np.uint8
    if mode in ("I;16", "I", "F"):
        # depth is scaled, not clipped: the 0..60000 ramp stays a ramp (16-bit: by the full
        # 0..65535 range, so 60000 -> 233; 32-bit and float: by the picture's own range)
        top = 60000 / 65535 * 255 if mode == "I;16" else 255
        assert out[0, 0, 0] < 10 and abs(int(out[-1, -1, 0]) - top) <= 3


def test_transparency_is_composited_on_white():
    rgba = Image.new("RGBA", (50, 50), (255, 0, 0, 0))  # fully transparent red
    out = load_image(encode(rgba, "PNG"))
    assert (out == 255).all()


def test_palette_transparency_is_composited_on_white():
    p = Image.new("P", (40, 40), 0)
    p.putpalette([0, 0, 0] * 256)
    p.info["transparency"] = 0
    out = load_image(encode(p, "PNG", transparency=0))
    assert (out == 255).all()


def test_exif_orientation_is_applied():
    # left half black, right half white; EXIF 6 means "rotate 90 degrees clockwise to display"
    arr = np.zeros((100, 200, 3), np.uint8)
    arr[:, 100:] = 255
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = 6
    out = load_image(encode(img, "JPEG", exif=exif.tobytes(), quality=95))
    # displayed upright: 100 wide x 200 tall, black on top, white at the bottom
    assert out[40, 112].mean() < 40 and out[184, 112].mean() > 215


def test_wide_photo_keeps_its_shape_padded_with_border_colour():
    img = Image.new("RGB", (400, 200), (10, 200, 30))
    img.paste((200, 10, 10), (150, 50, 250, 150))
    out = load_image(encode(img, "PNG"))
    # the picture fills the middle band; the padding above and below has the border colour
    assert np.abs(out[5, 112].astype(int) - (10, 200, 30)).max() <= 2
    assert np.abs(out[112, 112].astype(int) - (200, 10, 10)).max() <= 2
    # the red square stays square (squashing would make it 56 wide and 112 tall)
    red = (out[..., 0] > 150) & (out[..., 1] < 60)
    rows, cols = np.flatnonzero(red.any(1)), np.flatnonzero(red.any(0))
    assert abs(len(rows) - len(cols)) <= 2


def test_path_bytes_and_file_object_give_the_same_pixels(tmp_path):
    data = encode(product_picture(5), "JPEG")
    path = tmp_path / "x.jpg"
    path.write_bytes(data)
    a, b, c = load_image(path), load_image(data), load_image(io.BytesIO(data))
    assert np.array_equal(a, b) and np.array_equal(b, c)


@pytest.mark.parametrize(
    "data, words",
    [
        (b"", "empty"),
        (b"this is a text file, not a photo" * 10, "not a picture"),
        (encode(product_picture(1), "JPEG")[:600], "damaged"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "not a picture"),
    ],
    ids=["empty", "text", "truncated-jpeg", "broken-png-header"],
)
def test_unreadable_inputs_raise_one_clear_error(data, words):
    with pytest.raises(ImageError, match=words):
        load_image(data)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_decompression_bomb_is_refused_before_decoding():
    bomb = encode(Image.new("1", (12000, 12000)), "PNG")  # 144 Mpx in a few kB
    assert len(bomb) < 100_000
    with pytest.raises(ImageError, match="too large"):
        load_image(bomb)


def test_oversize_file_is_refused(tmp_path):
    data = encode(product_picture(2), "PNG")
    with pytest.raises(ImageError, match="too large"):
        load_image(data, max_bytes=len(data) - 1)
    path = tmp_path / "big.png"
    path.write_bytes(data)
    with pytest.raises(ImageError, match="too large"):
        load_image(path, max_bytes=100)


def test_missing_file_is_an_image_error(tmp_path):
    with pytest.raises(ImageError, match="Cannot open"):
        load_image(tmp_path / "nope.jpg")
