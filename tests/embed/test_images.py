"""Image loading: every input mode to RGB, EXIF orientation, resize policy, what a phone sends
(16-bit PNG, HEIC, AVIF), the picture the page shows, and bad inputs."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

import embed.images
from embed.images import ImageError, decode, display_picture, load_image, model_input
from tests.helpers import awkward_pictures, encode, not_pictures, product_picture

AWKWARD = awkward_pictures()
NOT_PICTURES = not_pictures()


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


@pytest.mark.parametrize("name", sorted(AWKWARD))
def test_what_a_phone_sends_decodes_once_for_the_model_and_the_browser(name):
    img = decode(AWKWARD[name])
    assert img.mode == "RGB" and img.size == (300, 200)
    assert np.abs(np.asarray(img)[0, 0].astype(int) - 245).max() <= 4  # the background, not noise
    pixels = model_input(img)
    assert pixels.shape == (224, 224, 3) and pixels.dtype == np.uint8
    assert np.array_equal(load_image(AWKWARD[name]), model_input(decode(AWKWARD[name], draft=224)))
    shown = Image.open(io.BytesIO(display_picture(img)))
    assert shown.format in ("JPEG", "PNG") and shown.mode == "RGB" and shown.size == (300, 200)
    shown.load()


def test_16_bit_rgba_is_scaled_and_composited_on_white():
    img = decode(AWKWARD["rgba16.png"])
    # the left edge is opaque background (245), the right edge 30 % opaque over white
    left, right = np.asarray(img)[100, 0], np.asarray(img)[100, -1]
    assert np.abs(left.astype(int) - 245).max() <= 1
    assert np.abs(right.astype(int) - round(255 - 0.305 * 10)).max() <= 2


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_exif_orientation_is_applied_once_in_heif_and_avif(fmt):
    arr = np.zeros((100, 200, 3), np.uint8)
    arr[:, 100:] = 255
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = 6
    upright = np.asarray(decode(encode(img, fmt, exif=exif.tobytes(), quality=95)))
    assert upright.shape == (200, 100, 3)  # turned once, not twice and not left as stored
    assert upright[20, 50].mean() < 40 and upright[180, 50].mean() > 215


@pytest.mark.parametrize("name", sorted(NOT_PICTURES))
def test_files_that_are_not_pictures_get_one_line_for_the_shopper(name):
    with pytest.raises(ImageError, match="not a picture") as caught:
        decode(NOT_PICTURES[name])
    message = str(caught.value)
    assert "\n" not in message and "Please upload a photo" in message
    with pytest.raises(ImageError):
        load_image(NOT_PICTURES[name])


@pytest.mark.parametrize("data, words", [
    (b"P3 sizes: S M L\nblue shirt\n", "not a picture"),  # no PPM: Pillow would call it damaged
    (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", "EPS"),  # never handed to Ghostscript
    (b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2mp41", "video"),
])
def test_other_non_pictures_are_named(data, words):
    with pytest.raises(ImageError, match=words):
        decode(data)


def test_without_pillow_heif_a_heic_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(embed.images, "pillow_heif", None)
    monkeypatch.delitem(Image.OPEN, "HEIF")
    with pytest.raises(ImageError, match="pip install pillow-heif"):
        decode(AWKWARD["photo.heic"])


def test_jpeg_draft_only_when_asked():
    data = encode(product_picture(4, (1800, 1200)), "JPEG")
    assert decode(data).size == (1800, 1200)
    assert decode(data, draft=224).size == (450, 300)  # libjpeg at 1/4: both sides still >= 224
    assert decode(data, draft=500).size == (900, 600)  # 1/2: 1/4 would make 300 < 500


def test_display_picture_of_a_strip_is_padded_to_a_visible_shape():
    strip = Image.new("RGB", (10000, 10), (200, 30, 30))
    shown = Image.open(io.BytesIO(display_picture(strip)))
    w, h = shown.size
    assert w == 640 and h >= w / 4
    assert np.abs(np.asarray(shown)[2, 2].astype(int) - (200, 30, 30)).max() <= 6  # border colour
    tall = Image.open(io.BytesIO(display_picture(Image.new("RGB", (10, 10000)))))
    assert tall.size[1] == 640 and tall.size[0] >= 640 / 4


def test_display_picture_is_cut_to_max_side_and_tiny_ones_grow_only_to_a_minimum():
    big = Image.open(io.BytesIO(display_picture(product_picture(1, (3000, 2000)))))
    assert big.size == (640, 427)
    assert Image.open(io.BytesIO(display_picture(product_picture(1, (300, 200))))).size == (300, 200)
    tiny = Image.open(io.BytesIO(display_picture(Image.new("RGB", (20, 10), (0, 0, 255)))))
    assert tiny.size == (120, 60)  # a whole factor, at most 128 on the longer side
    assert Image.open(io.BytesIO(display_picture(Image.new("RGB", (1, 1))))).size == (128, 128)
