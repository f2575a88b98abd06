"""The text-share estimate behind Rakuten's first-image rule (text on at most 20% of a 10x10 grid)."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image, ImageDraw

from processing.compliance import Verdict, check_bytes, text_share
from processing.profiles import ProfileError, load_catalog, parse_catalog
from tests.fixtures.pictures import _font, product

CATALOG = load_catalog()
RAKUTEN = CATALOG.profile("rakuten_main")


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=92)
    return out.getvalue()


def _captioned(lines: int, size: int = 1200) -> Image.Image:
    """A product shot with `lines` lines of promotional text across it."""
    image = product(3, size=size)
    draw = ImageDraw.Draw(image)
    for i in range(lines):
        draw.text((40, 40 + i * 110), "SALE 50% OFF 送料無料 TODAY", fill=(200, 0, 0), font=_font(60))
    return image


def _text_check(profile_data: bytes) -> tuple[Verdict, float]:
    check = next(c for c in check_bytes(RAKUTEN, profile_data).checks if c.name == "text")
    assert isinstance(check.value, float)
    return check.verdict, check.value


def test_a_plain_product_shot_passes() -> None:
    verdict, share = _text_check(_jpeg(product(5, size=1200)))
    assert verdict is Verdict.PASS and share <= 0.2


def test_a_picture_covered_in_captions_fails() -> None:
    verdict, share = _text_check(_jpeg(_captioned(11)))
    assert verdict is Verdict.FAIL and share > 0.3


def test_a_small_badge_stays_within_the_limit() -> None:
    image = product(4, size=1200)
    ImageDraw.Draw(image).text((60, 60), "NEW!", fill=(0, 0, 0), font=_font(70))
    verdict, share = _text_check(_jpeg(image))
    assert verdict is Verdict.PASS and 0 < share <= 0.1


def test_near_the_limit_is_a_warning() -> None:
    # the grid counts cells, so the verdict follows the share: just over the limit warns, well over fails
    profile = replace(RAKUTEN, max_text_share=text_share(np.asarray(_captioned(11))) - 0.05)
    check = next(c for c in check_bytes(profile, _jpeg(_captioned(11))).checks if c.name == "text")
    assert check.verdict is Verdict.WARN


@pytest.mark.parametrize("pattern", ["stripes", "checker", "flat"])
def test_regular_patterns_are_not_text(pattern: str) -> None:
    pixels = np.full((800, 800, 3), 255, np.uint8)
    yy, xx = np.mgrid[:800, :800]
    if pattern == "stripes":
        pixels[(yy // 10) % 2 == 0] = (30, 60, 160)
    elif pattern == "checker":
        pixels[((yy // 8 + xx // 8) % 2) == 0] = 0
    assert text_share(pixels) == 0.0


def test_profiles_without_the_rule_do_not_check_text() -> None:
    names = [c.name for c in check_bytes(CATALOG.profile("amazon_main"), _jpeg(_captioned(11))).checks]
    assert "text" not in names


@pytest.mark.parametrize("value", [-0.1, 1.5, "many"])
def test_the_rule_is_bounded(value: object) -> None:
    text = f'[profiles.p]\nwidth = 10\nheight = 10\nmax_text_share = {value!r}\n'.replace("'", '"')
    with pytest.raises(ProfileError):
        parse_catalog(text)
