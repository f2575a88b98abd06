"""Trimming: find the product on its background, ignore shadows, noise and specks."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from processing.normalize import content_box, flatten_on_white, trim
from tests.fixtures import media

Box = tuple[int, int, int, int]


def _near(got: Box, want: Box, size: tuple[int, int]) -> bool:
    """Boxes agree within a few pixels (trimming may work on a reduced copy of large pictures)."""
    slack = max(3, round(max(size) * 0.004))
    return all(abs(a - b) <= slack for a, b in zip(got, want, strict=True))


def _reload(image: Image.Image, fmt: str, **params: object) -> Image.Image:
    reopened = Image.open(io.BytesIO(media.encode(image, fmt, **params)))
    reopened.load()
    return reopened.convert("RGB")


@pytest.mark.parametrize("size", [(400, 300), (800, 600), (1600, 1200), (300, 900)])
def test_content_box_of_product_on_white(size: tuple[int, int]) -> None:
    box = content_box(media.product_on_white(size))
    assert _near(box, media.product_box(size), size), (box, media.product_box(size))


def test_soft_faint_shadow_is_not_content() -> None:
    size = (800, 600)
    shadowed = media.product_on_white(size, faint_shadow=True)
    # the shadow really is there: below the product and wider than it
    below = np.asarray(shadowed)[media.product_box(size)[3] + 5 :, :, :]
    assert below.min() < 250
    assert _near(content_box(shadowed), media.product_box(size), size)


@pytest.mark.parametrize("quality", [35, 60, 85])
def test_jpeg_noise_is_not_content(quality: int) -> None:
    size = (800, 600)
    noisy = _reload(media.product_on_white(size, faint_shadow=True), "JPEG", quality=quality)
    assert _near(content_box(noisy), media.product_box(size), size)


@pytest.mark.parametrize("share", [0.05, 0.25, 0.6])
def test_padded_copy_trims_to_the_same_content(share: float) -> None:
    original = media.product_on_white((600, 450))
    cropped, _ = trim(original)
    padded_crop, box = trim(media.pad(original, share))
    assert abs(padded_crop.width - cropped.width) <= 3
    assert abs(padded_crop.height - cropped.height) <= 3
    common = (min(cropped.width, padded_crop.width), min(cropped.height, padded_crop.height))
    a = np.asarray(cropped.crop((0, 0, *common)), dtype=np.int16)
    b = np.asarray(padded_crop.crop((0, 0, *common)), dtype=np.int16)
    assert np.abs(a - b).mean() < 12


def test_lone_specks_of_dust_are_ignored() -> None:
    size = (600, 600)
    image = media.product_on_white(size)
    draw = ImageDraw.Draw(image)
    for point in [(15, 20), (585, 30), (30, 575), (560, 560), (300, 590)]:
        draw.point(point, fill=(0, 0, 0))
    assert _near(content_box(image), media.product_box(size), size)


def test_pale_product_is_still_content() -> None:
    image = Image.new("RGB", (500, 400), (255, 255, 255))
    ImageDraw.Draw(image).rectangle((100, 80, 299, 319), fill=(222, 224, 226))  # a white-ish product
    assert _near(content_box(image), (100, 80, 300, 320), image.size)


def test_content_on_a_grey_studio_backdrop() -> None:
    size = (800, 600)
    image = media.product_on_white(size, background=(200, 200, 205))
    assert _near(content_box(image), media.product_box(size), size)


def test_product_touching_the_edge() -> None:
    image = Image.new("RGB", (400, 300), (255, 255, 255))
    ImageDraw.Draw(image).rectangle((0, 50, 149, 299), fill=(10, 60, 120))
    assert _near(content_box(image), (0, 50, 150, 300), image.size)


def test_blank_picture_keeps_its_full_box() -> None:
    blank = Image.new("RGB", (320, 200), (255, 255, 255))
    assert content_box(blank) == (0, 0, 320, 200)
    cropped, box = trim(blank)
    assert box == (0, 0, 320, 200)
    assert cropped.size == blank.size


def test_busy_background_is_not_trimmed() -> None:
    rng = np.random.default_rng(4)
    photo = Image.fromarray(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8))
    assert content_box(photo) == (0, 0, 400, 300)


def test_trim_returns_the_crop_and_its_box() -> None:
    image = media.product_on_white((800, 600))
    cropped, box = trim(image)
    assert cropped.mode == "RGB"
    assert cropped.size == (box[2] - box[0], box[3] - box[1])
    assert np.array_equal(np.asarray(cropped), np.asarray(image.crop(box)))


def test_transparent_background_is_flattened_on_white_then_trimmed() -> None:
    size = (800, 600)
    clear = media.on_transparent(media.product_on_white(size))
    assert clear.getpixel((0, 0)) == (255, 255, 255, 0)
    assert _near(content_box(clear), media.product_box(size), size)
    cropped, _ = trim(clear)
    assert cropped.mode == "RGB"


def test_transparent_black_background_does_not_become_content() -> None:
    # Cut-outs often keep black (0,0,0) under alpha 0; flattening must use alpha, not the colour.
    image = Image.new("RGBA", (300, 200), (0, 0, 0, 0))
    ImageDraw.Draw(image).rectangle((100, 50, 199, 149), fill=(200, 20, 20, 255))
    assert _near(content_box(image), (100, 50, 200, 150), image.size)


def test_flatten_on_white() -> None:
    half = Image.new("RGBA", (4, 4), (0, 0, 0, 128))
    flat = flatten_on_white(half)
    assert flat.mode == "RGB"
    value = flat.getpixel((1, 1))
    assert isinstance(value, tuple)
    assert all(abs(channel - 127) <= 1 for channel in value)
    rgb = Image.new("RGB", (4, 4), (1, 2, 3))
    assert flatten_on_white(rgb).getpixel((0, 0)) == (1, 2, 3)
    assert flatten_on_white(Image.new("L", (4, 4), 9)).getpixel((0, 0)) == (9, 9, 9)
