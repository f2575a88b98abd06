"""render(): every shipped profile gives the right box, format, white background and no metadata."""

from __future__ import annotations

import io
from dataclasses import replace
from functools import cache

import numpy as np
import pytest
from PIL import Image, ImageDraw

from processing.decode import DecodeLimits, decode
from processing.errors import TooSmallForProfile
from processing.normalize import content_box
from processing.profiles import Fit, Profile, load_catalog
from processing.render import RenderedVariant, render
from tests.fixtures import media

CATALOG = load_catalog()
PROFILES = sorted(CATALOG.profiles)
PAD_PROFILES = sorted(name for name, p in CATALOG.profiles.items() if p.fit is Fit.PAD)
MASTER_SIZE = (2600, 3900)  # product 2574 px tall: enough for every box without enlarging
CUTOUT_SIZE = (1200, 900)
# Metadata a merchant file may carry; none of it may reach a rendered variant.
LEAKY_INFO: dict[str, object] = {
    "icc_profile": media.srgb_icc(),
    "exif": media.exif_bytes(6),
    "comment": b"merchant-secret-comment",
    "xmp": b"<x:xmpmeta>merchant-xmp</x:xmpmeta>",
    "dpi": (300, 300),
}


@cache
def _master() -> Image.Image:
    return decode(media.jpeg(media.product_on_white(MASTER_SIZE), quality=95), DecodeLimits()).image


@cache
def _rendered(name: str) -> RenderedVariant:
    return render(_master(), CATALOG.profile(name))


def _reopen(variant: RenderedVariant, profile: Profile) -> Image.Image:
    image = Image.open(io.BytesIO(variant.data), formats=[profile.format])
    image.load()
    return image


def _magic_ok(data: bytes, fmt: str) -> bool:
    return {
        "JPEG": data[:3] == b"\xff\xd8\xff",
        "PNG": data[:8] == b"\x89PNG\r\n\x1a\n",
        "WEBP": data[:4] == b"RIFF" and data[8:12] == b"WEBP",
        "AVIF": data[4:8] == b"ftyp" and data[8:12] in (b"avif", b"avis"),
    }[fmt]


def _ink_box(image: Image.Image, threshold: int = 40) -> tuple[int, int, int, int] | None:
    """Bounding box of clearly non-white pixels (ignores faint codec ringing)."""
    pixels = np.asarray(image.convert("RGB"), dtype=np.int16)
    ink = (255 - pixels).max(axis=2) > threshold
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if rows.size == 0:
        return None
    return (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)


def _expected_size(profile: Profile, source: tuple[int, int]) -> tuple[int, int]:
    """The output size from the profile's definition, written out independently of render.py."""
    width, height = source
    limit = 1.0 if not profile.upscale else (profile.max_upscale or float("inf"))
    if profile.fit is Fit.CONTAIN:
        scale = min(profile.width / width, profile.height / height, limit)
        return (round(width * scale), round(height * scale))
    if profile.fit is Fit.PAD:
        wanted = min(profile.width * profile.fill / width, profile.height * profile.fill / height)
    else:
        wanted = max(profile.width / width, profile.height / height)
    if profile.max_upscale is None:
        if profile.fit is Fit.PAD:
            return (profile.width, profile.height)
        scale = min(wanted, limit)
        return (min(profile.width, round(width * scale)), min(profile.height, round(height * scale)))
    shrink = min(wanted, limit) / wanted
    return (round(profile.width * shrink), round(profile.height * shrink))


def _source_size(profile: Profile, master: Image.Image) -> tuple[int, int]:
    if not profile.trim:
        return master.size
    left, top, right, bottom = content_box(master)
    return (right - left, bottom - top)


@pytest.mark.parametrize("name", PROFILES)
def test_profile_renders_right_size_and_format(name: str) -> None:
    profile = CATALOG.profile(name)
    variant = _rendered(name)
    assert _magic_ok(variant.data, profile.format)
    assert variant.content_type == profile.content_type
    reopened = _reopen(variant, profile)
    assert reopened.format == profile.format
    assert reopened.mode == "RGB"
    assert reopened.size == (variant.width, variant.height)
    assert reopened.size == _expected_size(profile, _source_size(profile, _master()))
    assert variant.width <= profile.width
    assert variant.height <= profile.height


@pytest.mark.parametrize("name", PAD_PROFILES)
def test_pad_profiles_have_pure_white_margins_and_fill_the_box(name: str) -> None:
    profile = CATALOG.profile(name)
    reopened = _reopen(_rendered(name), profile).convert("RGB")
    pixels = np.asarray(reopened)
    band = max(2, round(min(reopened.size) * 0.01))
    for edge in (pixels[:band], pixels[-band:], pixels[:, :band], pixels[:, -band:]):
        assert (edge == 255).all(), "marketplaces demand RGB 255,255,255 around the product"
    ink = _ink_box(reopened)
    assert ink is not None
    ink_w, ink_h = ink[2] - ink[0], ink[3] - ink[1]
    # the trimmed product's longer relative side fills `fill` of the box
    target = max(ink_w / reopened.width, ink_h / reopened.height)
    assert abs(target - profile.fill) <= 0.012, (ink, profile.fill)
    # and it is centred
    assert abs(ink[0] - (reopened.width - ink[2])) <= 3
    assert abs(ink[1] - (reopened.height - ink[3])) <= 3


def test_cover_profile_crops_the_centre_of_the_trimmed_product() -> None:
    profile = CATALOG.profile("swatch")
    assert profile.fit is Fit.COVER
    reopened = _reopen(_rendered("swatch"), profile).convert("RGB")
    # the product box is taller than wide: cover fills the width, so no white column remains
    pixels = np.asarray(reopened, dtype=np.int16)
    assert ((255 - pixels[:, :2]).max(axis=2) > 40).any()
    assert ((255 - pixels[:, -2:]).max(axis=2) > 40).any()


@pytest.mark.parametrize("name", PROFILES)
def test_output_carries_no_metadata(name: str) -> None:
    profile = CATALOG.profile(name)
    master = _master().copy()
    master.info.update(LEAKY_INFO)  # as if the master had been opened straight from the merchant file
    variant = render(master, profile)
    reopened = _reopen(variant, profile)
    leaked = {"exif", "icc_profile", "comment", "xmp", "XML:com.adobe.xmp", "dpi"} & set(reopened.info)
    assert leaked == set()
    assert len(reopened.getexif()) == 0
    for marker in (
        b"Exif\x00\x00",
        b"ICC_PROFILE",
        b"merchant-secret-comment",
        b"merchant-xmp",
        b"SkupixTestCam",
    ):
        assert marker not in variant.data
    assert variant.data == _rendered(name).data, "metadata on the master must not change the bytes"


@pytest.mark.parametrize("name", PROFILES)
def test_rendering_is_deterministic(name: str) -> None:
    again = decode(media.jpeg(media.product_on_white(MASTER_SIZE), quality=95), DecodeLimits()).image
    assert render(again, CATALOG.profile(name)).data == _rendered(name).data


@pytest.mark.parametrize("name", ["taobao_main", "web_thumb", "web_large", "avif_thumb"])
def test_transparent_master_renders_on_white(name: str) -> None:
    profile = CATALOG.profile(name)
    # cut-outs often hide black under alpha 0: it must not show up as a black background
    cutout = Image.new("RGBA", CUTOUT_SIZE, (0, 0, 0, 0))
    ImageDraw.Draw(cutout).ellipse((400, 200, 800, 700), fill=(200, 30, 30, 255))
    master = decode(media.encode(cutout, "PNG"), DecodeLimits()).image
    assert master.mode == "RGBA"
    reopened = _reopen(render(master, profile), profile).convert("RGB")
    corners = [
        reopened.getpixel(point)
        for point in [
            (0, 0),
            (reopened.width - 1, 0),
            (0, reopened.height - 1),
            (reopened.width - 1, reopened.height - 1),
        ]
    ]
    assert all(corner == (255, 255, 255) for corner in corners), corners
    centre = reopened.getpixel((reopened.width // 2, reopened.height // 2))
    assert isinstance(centre, tuple)
    assert abs(centre[0] - 200) <= 12
    assert max(centre[1], centre[2]) <= 50


@pytest.mark.parametrize("mode", ["LA", "PA", "P"])
def test_masters_with_other_alpha_modes_render_on_white(mode: str) -> None:
    # Not every caller hands render() a decoded RGBA master; alpha in other modes must count too.
    cutout = Image.new("RGBA", (300, 200), (0, 0, 0, 0))
    ImageDraw.Draw(cutout).rectangle((100, 50, 199, 149), fill=(90, 90, 90, 255))
    if mode == "LA":
        master = cutout.convert("LA")
    elif mode == "PA":
        master = cutout.convert("PA")
    else:
        master = cutout.convert("P")  # palette with a transparent index
        master.info["transparency"] = master.getpixel((0, 0))
    profile = CATALOG.profile("web_large")
    reopened = _reopen(render(master, profile), profile).convert("RGB")
    assert reopened.getpixel((0, 0)) == (255, 255, 255)
    centre = reopened.getpixel((150, 100))
    assert isinstance(centre, tuple)
    assert max(abs(channel - 90) for channel in centre) <= 6


def test_polyglot_payload_does_not_survive_rendering() -> None:
    data = media.by_name("jpeg_polyglot_html").data
    assert b"<script>" in data
    master = decode(data, DecodeLimits()).image
    for name in ("taobao_main", "web_thumb", "web_large"):
        assert b"<script" not in render(master, CATALOG.profile(name)).data


def test_small_master_is_flagged_not_upscaled() -> None:
    small = decode(media.encode(media.product_on_white((200, 150)), "PNG"), DecodeLimits()).image
    left, top, right, bottom = content_box(small)
    product_w, product_h = right - left, bottom - top
    amazon = CATALOG.profile("amazon_main")
    with pytest.raises(TooSmallForProfile) as refused:
        render(small, amazon)  # a 99 px product would need 10x enlarging to reach Amazon's 1000 px
    assert refused.value.code == "image_too_small_for_profile"
    assert refused.value.upscale > 8
    # a profile without a minimum renders the largest canvas that needs no enlarging at all
    taobao = CATALOG.profile("taobao_main")
    variant = render(small, taobao)
    assert variant.upscale <= 1.0
    assert variant.width == variant.height == round(taobao.width * min(
        taobao.width * taobao.fill / product_w, taobao.height * taobao.fill / product_h, 1.0
    ) / min(taobao.width * taobao.fill / product_w, taobao.height * taobao.fill / product_h))
    ink = _ink_box(_reopen(variant, taobao))
    assert ink is not None and abs((ink[3] - ink[1]) - product_h) <= 3, "the product keeps its pixel size"
    thumb = CATALOG.profile("web_thumb")  # a legacy fixed box: the product stays small inside it
    variant = render(small, thumb)
    assert (variant.width, variant.height) == (thumb.width, thumb.height)
    ink = _ink_box(_reopen(variant, thumb))
    assert ink is not None
    assert abs((ink[3] - ink[1]) - product_h) <= 3
    assert render(small, CATALOG.profile("web_large")).width == 200  # contain never enlarges


def test_contain_shrinks_a_large_master_to_the_box() -> None:
    big = media.product_on_white((2400, 1800))
    profile = CATALOG.profile("amazon_gallery")
    variant = render(big, profile)
    assert (variant.width, variant.height) == (2000, 1500)


def test_png_profile_and_non_white_background() -> None:
    profile = replace(CATALOG.profile("taobao_main"), format="PNG", background="#102030")
    master = _master().copy()
    master.info.update(LEAKY_INFO)
    variant = render(master, profile)
    assert _magic_ok(variant.data, "PNG")
    reopened = _reopen(variant, profile)
    assert "icc_profile" not in reopened.info
    assert "exif" not in reopened.info
    assert reopened.convert("RGB").getpixel((0, 0)) == (16, 32, 48)


@pytest.mark.parametrize("name", PROFILES)
def test_digest_and_content_type_fit_the_format(name: str) -> None:
    profile = CATALOG.profile(name)
    assert profile.content_type == f"image/{profile.format.lower()}"
    assert profile.extension in ("jpg", "png", "webp", "avif")
    assert len(profile.digest) == 16
