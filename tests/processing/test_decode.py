"""decode(): every nasty fixture is either taken as upright 8-bit sRGB or refused with a stable code."""

from __future__ import annotations

import threading
import time
import warnings

import pytest
from PIL import Image, ImageFile

from processing import errors
from processing.decode import DecodeLimits, decode, probe
from tests.fixtures import media

LIMITS = DecodeLimits()


def _colour_distance(got: object, want: tuple[int, ...]) -> int:
    assert isinstance(got, tuple)
    return max(abs(int(a) - b) for a, b in zip(got[:3], want, strict=True))


@pytest.mark.parametrize("fixture", media.accepted(), ids=media.names(media.accepted))
def test_accepted_fixture_decodes_upright_8bit_srgb(fixture: media.MediaFixture) -> None:
    expect = fixture.expect
    assert isinstance(expect, media.Accept)
    decoded = decode(fixture.data, LIMITS)
    assert decoded.format == expect.format
    assert decoded.image.mode == expect.mode
    assert decoded.image.mode in ("RGB", "RGBA")  # always 8 bits per channel
    assert decoded.has_alpha is (expect.mode == "RGBA")
    assert (decoded.width, decoded.height) == expect.size == decoded.image.size
    assert decoded.frames == expect.frames
    assert decoded.mime_type == f"image/{expect.format.lower()}"
    assert decoded.image.info == {}, "no source metadata may travel with the decoded pixels"
    if expect.markers:
        assert media.card_is_upright(decoded.image) == []
    if expect.colour is not None:
        got = decoded.image.getpixel(expect.probe)
        assert _colour_distance(got, expect.colour) <= expect.tolerance, f"{got} vs {expect.colour}"


@pytest.mark.parametrize("fixture", media.rejected(), ids=media.names(media.rejected))
def test_rejected_fixture_raises_its_error_and_code(fixture: media.MediaFixture) -> None:
    expect = fixture.expect
    assert isinstance(expect, media.Reject)
    with pytest.raises(errors.ImageError) as caught:
        decode(fixture.data, LIMITS)
    assert type(caught.value) is expect.error
    assert caught.value.code == expect.code
    assert caught.value.message


def test_error_codes_are_stable() -> None:
    # These strings are part of the public API: clients switch on them.
    assert {
        cls.__name__: cls.code
        for cls in (
            errors.ImageError,
            errors.EmptyImage,
            errors.FileTooLarge,
            errors.UnsupportedFormat,
            errors.ImageTooLarge,
            errors.CorruptImage,
        )
    } == {
        "ImageError": "image_invalid",
        "EmptyImage": "image_empty",
        "FileTooLarge": "file_too_large",
        "UnsupportedFormat": "image_unsupported_format",
        "ImageTooLarge": "image_too_large",
        "CorruptImage": "image_corrupt",
    }
    for cls in (
        errors.EmptyImage,
        errors.FileTooLarge,
        errors.UnsupportedFormat,
        errors.ImageTooLarge,
        errors.CorruptImage,
    ):
        assert issubclass(cls, errors.ImageError)


# --- orientation --------------------------------------------------------------------------------


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_comes_out_upright(orientation: int) -> None:
    stored = media.stored_for_orientation(media.card(), orientation)
    if orientation >= 5:
        assert stored.size == media.CARD_SIZE[::-1], "5..8 are stored on their side"
    decoded = decode(media.with_exif_orientation(stored, orientation), LIMITS)
    assert media.card_is_upright(decoded.image) == []
    if orientation != 1:
        assert f"exif_orientation_{orientation}" in decoded.notes


def test_without_exif_a_sideways_picture_stays_as_stored() -> None:
    stored = media.stored_for_orientation(media.card(), 6)
    decoded = decode(media.jpeg(stored), LIMITS)
    assert decoded.image.size == stored.size
    assert media.card_is_upright(decoded.image) != []


def test_broken_exif_is_harmless_even_when_warnings_are_errors() -> None:
    fixture = media.by_name("jpeg_broken_exif")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        decoded = decode(fixture.data, LIMITS)
    assert media.card_is_upright(decoded.image) == []


# --- colour -------------------------------------------------------------------------------------


def test_cmyk_red_without_profile_is_red() -> None:
    decoded = decode(media.by_name("jpeg_cmyk").data, LIMITS)
    assert decoded.source_mode == "CMYK"
    assert _colour_distance(decoded.image.getpixel((5, 5)), (255, 0, 0)) <= 3


def test_cmyk_profile_is_applied_not_naively_inverted() -> None:
    decoded = decode(media.by_name("jpeg_cmyk_icc").data, LIMITS)
    assert "icc_converted" in decoded.notes
    got = decoded.image.getpixel((5, 5))
    assert _colour_distance(got, media.press_colour(0, 1, 1, 0)) <= 4
    assert _colour_distance(got, (255, 0, 0)) > 20, "the naive 255-C formula would give pure red"
    cyan = decode(
        media.jpeg(Image.new("CMYK", (16, 16), media.CMYK_CYAN), icc_profile=media.cmyk_icc()), LIMITS
    )
    assert _colour_distance(cyan.image.getpixel((8, 8)), media.press_colour(1, 0, 0, 0)) <= 4


def test_wide_gamut_profile_is_converted_to_srgb() -> None:
    decoded = decode(media.by_name("jpeg_wide_gamut_icc").data, LIMITS)
    assert "icc_converted" in decoded.notes
    got = decoded.image.getpixel((20, 15))
    assert _colour_distance(got, media.p3_to_srgb(media.P3_SAMPLE)) <= 3
    assert _colour_distance(got, media.P3_SAMPLE) > 10, "the untagged values would be wrong in sRGB"


def test_a_profile_that_does_not_fit_the_pixels_is_ignored_not_fatal() -> None:
    decoded = decode(media.by_name("jpeg_cmyk_with_rgb_icc").data, LIMITS)
    assert "icc_ignored" in decoded.notes


def test_sixteen_bit_grey_maps_to_eight_bits() -> None:
    decoded = decode(media.by_name("png_16bit_grey").data, LIMITS)
    # the ramp holds 4·257·x at column x: exactly 4·x in 8 bits
    assert [decoded.image.getpixel((x, 0)) for x in (0, 1, 32, 63)] == [
        (0, 0, 0),
        (4, 4, 4),
        (128, 128, 128),
        (252, 252, 252),
    ]


def test_palette_transparency_becomes_alpha() -> None:
    decoded = decode(media.by_name("png_palette_trns").data, LIMITS)
    assert decoded.image.getpixel((0, 0))[3] == 0  # type: ignore[index]
    assert decoded.image.getpixel((16, 16)) == (0, 200, 0, 255)


def test_animated_gif_keeps_first_frame_and_counts_frames() -> None:
    decoded = decode(media.by_name("gif_animated_3_frames").data, LIMITS)
    assert decoded.frames == 3
    assert decoded.image.getpixel((0, 0)) == (255, 0, 0)


def test_mpo_is_reported_as_jpeg() -> None:
    decoded = decode(media.by_name("jpeg_mpo_two_frames").data, LIMITS)
    assert (decoded.format, decoded.mime_type, decoded.frames) == ("JPEG", "image/jpeg", 2)
    assert decoded.jpeg_quality is not None


@pytest.mark.parametrize("quality", [40, 75, 92])
def test_jpeg_quality_is_estimated(quality: int) -> None:
    decoded = decode(media.encode(media.product_on_white((200, 150)), "JPEG", quality=quality), LIMITS)
    assert decoded.jpeg_quality is not None
    assert abs(decoded.jpeg_quality - quality) <= 2


def test_non_jpeg_has_no_quality_estimate() -> None:
    assert decode(media.encode(media.card(), "PNG"), LIMITS).jpeg_quality is None


# --- limits -------------------------------------------------------------------------------------


def test_max_bytes() -> None:
    data = media.encode(media.card(), "PNG")
    assert decode(data, DecodeLimits(max_bytes=len(data))).width == media.CARD_SIZE[0]
    with pytest.raises(errors.FileTooLarge) as caught:
        decode(data, DecodeLimits(max_bytes=len(data) - 1))
    assert caught.value.code == "file_too_large"


def test_max_pixels() -> None:
    data = media.encode(media.card(), "PNG")
    pixels = media.CARD_SIZE[0] * media.CARD_SIZE[1]
    decode(data, DecodeLimits(max_pixels=pixels))
    with pytest.raises(errors.ImageTooLarge):
        decode(data, DecodeLimits(max_pixels=pixels - 1))


def test_max_side() -> None:
    data = media.encode(media.card(), "PNG")
    decode(data, DecodeLimits(max_side=max(media.CARD_SIZE)))
    with pytest.raises(errors.ImageTooLarge):
        decode(data, DecodeLimits(max_side=max(media.CARD_SIZE) - 1))


def test_max_side_applies_to_the_stored_size_of_a_rotated_picture() -> None:
    stored = media.stored_for_orientation(media.card(), 6)  # 64 wide, 96 high as stored
    with pytest.raises(errors.ImageTooLarge):
        decode(media.with_exif_orientation(stored, 6), DecodeLimits(max_side=95))


def test_max_frames() -> None:
    data = media.by_name("gif_animated_3_frames").data
    assert decode(data, DecodeLimits(max_frames=3)).frames == 3
    with pytest.raises(errors.ImageTooLarge):
        decode(data, DecodeLimits(max_frames=2))


@pytest.mark.parametrize(
    ("fixture", "allowed"),
    [
        ("jpeg_progressive", ("PNG", "WEBP")),
        ("tiff_rgb", ("JPEG", "PNG")),
        ("webp_lossy", ("JPEG", "PNG")),
        ("avif", ("JPEG", "PNG", "WEBP")),
        ("gif_animated_3_frames", ("JPEG",)),
    ],
)
def test_formats_outside_the_allowed_list_are_unsupported(fixture: str, allowed: tuple[str, ...]) -> None:
    with pytest.raises(errors.UnsupportedFormat):
        decode(media.by_name(fixture).data, DecodeLimits(formats=allowed))


def test_limits_are_checked_from_the_header_before_pixels_are_decoded() -> None:
    started = time.perf_counter()
    for name in ("png_bomb_30000x30000", "png_bomb_9000x9000", "png_side_25000x4"):
        with pytest.raises(errors.ImageTooLarge):
            decode(media.by_name(name).data, LIMITS)
    assert time.perf_counter() - started < 1.0
    # probe() looks at the header only: a truncated body is not noticed yet
    header_ok = probe(media.by_name("truncated_jpeg").data, LIMITS)
    assert header_ok.size == (160, 120)


def test_bomb_below_pillows_own_guard_is_caught_by_our_pixel_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    # Pillow's default guard (a runtime built earlier in the session may have lowered it)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", int(1024 * 1024 * 1024 // 4 // 3))
    assert Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS > 9_000 * 9_000
    with pytest.raises(errors.ImageTooLarge, match="pixels"):
        decode(media.by_name("png_bomb_9000x9000").data, LIMITS)


def test_pillow_bomb_warning_is_an_error_even_with_a_generous_budget() -> None:
    # 121 Mpx sits between Pillow's warning (89 Mpx) and error (179 Mpx) thresholds: the warning
    # must still stop the open, or the header-only bomb would get as far as decoding.
    generous = DecodeLimits(max_pixels=500_000_000, max_side=50_000)
    with pytest.raises(errors.ImageTooLarge, match="header"):
        decode(media.png_header_only_bomb(11_000, 11_000), generous)


# --- truncated files whatever the global Pillow setting ----------------------------------------


def test_truncated_files_are_rejected_even_when_load_truncated_images_is_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    for name in ("truncated_jpeg", "truncated_png"):
        with pytest.raises(errors.CorruptImage):
            decode(media.by_name(name).data, LIMITS)
    assert decode(media.by_name("jpeg_progressive").data, LIMITS).width == media.CARD_SIZE[0]
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True, "decode must put the caller's setting back"


def test_truncated_files_are_rejected_by_concurrent_decodes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    truncated = media.by_name("truncated_jpeg").data
    good = media.by_name("tiff_rgb").data
    failures: list[str] = []
    barrier = threading.Barrier(4)

    def worker() -> None:
        barrier.wait()
        try:
            for _ in range(15):
                try:
                    decode(truncated, LIMITS)
                    failures.append("a truncated JPEG was accepted")
                except errors.CorruptImage:
                    pass
                if decode(good, LIMITS).image.size != media.CARD_SIZE:
                    failures.append("a good TIFF decoded wrongly")
        except Exception as exc:  # reported through `failures`, not lost in the thread
            failures.append(repr(exc))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True
