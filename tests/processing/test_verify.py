"""Verification of dedup candidates: copies pass, look-alikes fail, and the cheap paths stay sound."""

from __future__ import annotations

import io
from functools import cache
from types import ModuleType
from typing import Any

import cv2
import numpy as np
import pytest
from PIL import Image, ImageFilter

from processing.caching import computed_once
from processing.decode import DecodeLimits, decode
from processing.fingerprint import fingerprint
from processing.verify import (
    VerificationStopped,
    VerifyImage,
    VerifyThresholds,
    alignment,
    colour,
    difference,
    image,
    verdict,
    verify,
)
from tests.fixtures.heldout import build
from tests.fixtures.pictures import encode, product

THRESHOLDS = VerifyThresholds()


@cache
def _pictures() -> dict[str, VerifyImage]:
    """The held-back corpus of two models, fingerprinted once for the whole module."""
    return {sample.name: fingerprint(decode(sample.data, DecodeLimits()).image).verify_image
            for sample in build(n_models=2)}


def _picture(name: str) -> VerifyImage:
    return _pictures()[name]


def _of(image: Image.Image) -> VerifyImage:
    return fingerprint(decode(encode(image, "JPEG", quality=92), DecodeLimits()).image).verify_image


COPIES = ["blur", "sharpen", "gamma", "upscaled", "crop_left", "square_pad", "offwhite_pad", "exif_3", "exif_8",
          "cutout_png", "palette_png", "avif", "jpeg_q30", "webp_small", "contrast"]
_EXTENSIONS = {"cutout_png": "png", "palette_png": "png", "avif": "avif", "webp_small": "webp"}


@pytest.mark.parametrize("edit", COPIES)
def test_every_copy_verifies_against_its_original_both_ways(edit: str) -> None:
    copy = _picture(f"h01-base__{edit}.{_EXTENSIONS.get(edit, 'jpg')}")
    original = _picture("h01-base.jpg")
    assert verify(copy, original, THRESHOLDS).accepted
    assert verify(original, copy, THRESHOLDS).accepted


@pytest.mark.parametrize("look_alike", ["line", "hue", "word", "shot"])
def test_look_alikes_are_rejected_both_ways(look_alike: str) -> None:
    other = _picture(f"h00-{look_alike}.jpg")
    base = _picture("h00-base.jpg")
    assert not verify(other, base, THRESHOLDS).accepted
    assert not verify(base, other, THRESHOLDS).accepted


def test_the_explanation_reads_candidate_to_query_whichever_picture_was_warped() -> None:
    # The sharpened, turned copy is the crisper picture, so it is the one warped whichever role it
    # has; the reported rotation must still be the candidate→query turn, so it flips with the roles.
    original = product(5, size=900, label="LUMEN", line="250 ml")
    turned = original.rotate(1.5, resample=Image.Resampling.BICUBIC, fillcolor=(255, 255, 255))
    sharp = _of(turned.filter(ImageFilter.UnsharpMask(2, 150, 2)))
    plain = _of(original)
    forward, backward = verify(sharp, plain, THRESHOLDS), verify(plain, sharp, THRESHOLDS)
    assert forward.accepted and backward.accepted
    assert abs(forward.rotation_deg) == pytest.approx(1.5, abs=0.3)
    assert forward.rotation_deg == pytest.approx(-backward.rotation_deg, abs=0.2)
    assert forward.scale == pytest.approx(1.0 / backward.scale, rel=0.02)


def test_a_confirmed_alignment_is_final(monkeypatch: pytest.MonkeyPatch) -> None:
    # A closely correlating same-frame alignment decides alone: feature matching is never run.
    def no_features(*_args: object) -> tuple[None, int]:
        raise AssertionError("feature matching ran after a confirmed alignment")

    monkeypatch.setattr(alignment, "_feature_transform", no_features)
    base = _picture("h00-base.jpg")
    assert verify(_picture("h00-base__jpeg_q30.jpg"), base, THRESHOLDS).accepted
    assert not verify(_picture("h00-word.jpg"), base, THRESHOLDS).accepted


def test_an_unconfirmed_alignment_falls_back_to_features() -> None:
    # A 12% centre crop is beyond what intensity alignment may correct from the stretched frame;
    # feature matching has to find the scale.
    original = product(9, size=900, label="ATLAS", line="1 L")
    crop = original.crop((54, 54, 846, 846))
    result = verify(_of(crop), _of(original), THRESHOLDS)
    assert result.accepted


def test_a_small_changed_region_is_seen_after_blur_matching() -> None:
    # The filter search is global: softening one picture to match the other must not hide a
    # changed word, however the two differ in sharpness.
    original = product(11, size=900, label="NOVA", line="500 ml")
    changed = product(11, size=900, label="NOVA", line="750 ml")
    soft = changed.filter(ImageFilter.GaussianBlur(1.2))
    assert not verify(_of(soft), _of(original), THRESHOLDS).accepted
    assert not verify(_of(original), _of(soft), THRESHOLDS).accepted


def test_verification_images_skip_the_png_round_trip_losslessly() -> None:
    picture = fingerprint(decode(encode(product(3, size=600), "JPEG", quality=90), DecodeLimits()).image)
    stored = VerifyImage.from_png(picture.signature_png, picture.detail_png)
    assert np.array_equal(stored.signature, picture.verify_image.signature)
    assert np.array_equal(stored.detail, picture.verify_image.detail)
    with Image.open(io.BytesIO(picture.signature_png)) as image:
        assert image.mode == "RGB"


class _CountingLoader:
    """A detail-image loader that counts how often verification asked for the pixels."""

    def __init__(self, png: bytes) -> None:
        self.png = png
        self.calls = 0

    def __call__(self) -> bytes:
        self.calls += 1
        return self.png


def _stored(name: str) -> tuple[VerifyImage, _CountingLoader]:
    sample = next(s for s in build(n_models=2) if s.name == name)
    picture = fingerprint(decode(sample.data, DecodeLimits()).image)
    loader = _CountingLoader(picture.detail_png)
    return VerifyImage.from_png(picture.signature_png, loader, picture.verify_image.summary), loader


def test_the_stored_detail_summary_is_what_the_decoded_detail_image_gives() -> None:
    picture = fingerprint(decode(encode(product(5, size=900), "JPEG", quality=90), DecodeLimits()).image)
    summary = picture.verify_image.summary
    decoded = VerifyImage.from_png(picture.signature_png, picture.detail_png)
    assert summary.long_side == max(decoded.detail.shape)
    assert summary.edge_energy == decoded.edge_energy(summary.long_side)  # exact: the verdicts cannot move


def test_a_candidate_rejected_on_colour_never_loads_its_detail_image() -> None:
    query = _picture("h00-hue.jpg")
    candidate, loader = _stored("h00-base.jpg")
    lazy = verify(query, candidate, THRESHOLDS)
    assert not lazy.accepted and lazy.colour_diff > THRESHOLDS.max_colour_diff
    assert loader.calls == 0
    assert lazy == verify(query, _picture("h00-base.jpg"), THRESHOLDS)


def test_a_copy_loads_the_detail_image_once_and_gets_the_same_verdict() -> None:
    query = _picture("h01-base__jpeg_q30.jpg")
    candidate, loader = _stored("h01-base.jpg")
    lazy = verify(query, candidate, THRESHOLDS)
    assert lazy.accepted and loader.calls == 1
    assert lazy == verify(query, _picture("h01-base.jpg"), THRESHOLDS)


def test_a_stored_verification_image_that_is_not_a_png_is_refused() -> None:
    picture = fingerprint(decode(encode(product(3, size=300), "JPEG", quality=90), DecodeLimits()).image)
    jpeg = encode(Image.fromarray(picture.signature), "JPEG", quality=90)
    with pytest.raises(ValueError, match="not a PNG"):
        VerifyImage.from_png(jpeg, picture.detail_png)
    with pytest.raises(ValueError, match="unreadable"):
        VerifyImage.from_png(picture.signature_png, picture.detail_png[:40])


def _calls(monkeypatch: pytest.MonkeyPatch, module: ModuleType, name: str) -> list[tuple[tuple[Any, ...], Any]]:
    """Record each call of `name` from `module` (the caller: where the name is looked up) as (arguments,
    result); the real one still runs."""
    calls: list[tuple[tuple[Any, ...], Any]] = []
    real = getattr(module, name)

    def recording(*args: Any) -> Any:
        result = real(*args)
        calls.append((args, result))
        return result

    monkeypatch.setattr(module, name, recording)
    return calls


def test_warm_up_runs() -> None:
    verdict.warm_up()


def test_an_alignment_already_judged_is_not_judged_again(monkeypatch: pytest.MonkeyPatch) -> None:
    # For a changed label, the stretched frame, its ECC polish and the feature alignment all land
    # within a fraction of a pixel: the second and third would only repeat the first verdict.
    judged = _calls(monkeypatch, verdict, "_evaluate")
    result = verify(_picture("h01-word.jpg"), _picture("h01-base.jpg"), THRESHOLDS)
    assert not result.accepted
    assert [args[2] for args, _result in judged] == ["frame"]


def test_alignments_a_pixel_apart_are_both_judged() -> None:
    image = _picture("h00-base.jpg")
    stretched = alignment._same_frame_transform(image.signature, image.signature)
    moved = stretched.copy()
    moved[0, 2] += 1.0
    corners = alignment._frame_corners(image.signature.shape, stretched)
    assert float(np.abs(alignment._frame_corners(image.signature.shape, moved) - corners).max()) == 1.0
    assert verdict._SAME_ALIGNMENT_PX < 1.0


def _textured(seed: int, size: tuple[int, int]) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 255, (size[1], size[0]), dtype=np.uint8)
    return cv2.GaussianBlur(noise, (0, 0), 2.0).astype(np.float32)


def test_two_level_ecc_finds_a_subpixel_shift(monkeypatch: pytest.MonkeyPatch) -> None:
    starts: list[np.ndarray] = []
    ecc = alignment._ecc

    def recording(template: np.ndarray, moving: np.ndarray, mask: np.ndarray, start: np.ndarray,
                  iterations: int) -> tuple[float, np.ndarray]:
        starts.append(start.copy())
        return ecc(template, moving, mask, start, iterations)

    monkeypatch.setattr(alignment, "_ecc", recording)
    template = _textured(1, (240, 180))
    shift = np.array([[1.0, 0.0, 2.6], [0.0, 1.0, -1.4]], dtype=np.float32)
    moving = cv2.warpAffine(template, shift, (240, 180), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    mask = np.zeros(template.shape, np.uint8)
    mask[8:-8, 8:-8] = 255  # the reflected border is not the shifted picture
    correlation, found = alignment._ecc_two_levels(template, moving, mask)
    assert correlation > 0.98
    # ECC maps template coordinates into the moving picture: the shift comes back as it was applied
    assert found[0, 2] == pytest.approx(2.6, abs=0.1) and found[1, 2] == pytest.approx(-1.4, abs=0.1)
    # the full-size polish starts where the half-size solve ended, in full-size pixels
    assert len(starts) == 2 and np.allclose(starts[1][:, 2], found[:, 2], atol=0.3)


def test_two_level_ecc_solves_small_or_flat_halves_at_full_size(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[tuple[int, ...], int]] = []
    ecc = alignment._ecc

    def recording(template: np.ndarray, *rest: object) -> tuple[float, np.ndarray]:
        calls.append((template.shape, int(rest[-1])))  # type: ignore[call-overload]
        return ecc(template, *rest)  # type: ignore[arg-type]

    monkeypatch.setattr(alignment, "_ecc", recording)
    small = _textured(2, (40, 40))
    alignment._ecc_two_levels(small, small, np.full(small.shape, 255, np.uint8))
    assert calls == [((40, 40), alignment._ECC_ITERATIONS)]  # too small to halve

    calls.clear()
    flat_half = _textured(3, (200, 160))
    real_ecc = ecc

    def half_fails(template: np.ndarray, *rest: object) -> tuple[float, np.ndarray]:
        calls.append((template.shape, int(rest[-1])))  # type: ignore[call-overload]
        if template.shape == (80, 100):
            raise cv2.error("the half-size picture has too little texture")
        return real_ecc(template, *rest)  # type: ignore[arg-type]

    monkeypatch.setattr(alignment, "_ecc", half_fails)
    alignment._ecc_two_levels(flat_half, flat_half, np.full(flat_half.shape, 255, np.uint8))
    assert calls == [((80, 100), alignment._ECC_HALF_ITERATIONS), ((160, 200), alignment._ECC_ITERATIONS)]


def test_computed_once_caches_per_picture_and_never_makes_threads_wait_for_each_other() -> None:
    import threading

    both_inside = threading.Barrier(2, timeout=5)
    calls: list[int] = []

    class Picture:
        def __init__(self, number: int) -> None:
            self.number = number

        @computed_once
        def features(self) -> int:
            calls.append(self.number)
            both_inside.wait()  # a lock shared by the class (functools on 3.11) would time this out
            return self.number * 10

    first, second = Picture(1), Picture(2)
    errors: list[BaseException] = []

    def read(picture: Picture) -> None:
        try:
            assert picture.features == picture.number * 10
        except BaseException as error:  # surfaced below, on the test's thread
            errors.append(error)

    threads = [threading.Thread(target=read, args=(picture,)) for picture in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    both_inside.reset()
    assert (first.features, second.features) == (10, 20)  # cached: no second computation
    assert sorted(calls) == [1, 2]


def _colour_inputs(query: VerifyImage, candidate: VerifyImage) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The softened, tone-matched pair and overlap mask the colour check compares, stretched frame."""
    height, width = query.signature.shape[:2]
    frame = alignment._same_frame_transform(query.signature, candidate.signature)
    warped = alignment._warp(candidate.signature, frame, (width, height), (255, 255, 255))
    valid = alignment._valid_mask(candidate.signature.shape, frame, (width, height))
    softened = cv2.GaussianBlur(warped.astype(np.float32), (0, 0), image._COLOUR_BLUR)
    return (*difference._match_tones(query.colour_softened, softened, valid, (0.88, 1.14), 16.0), valid)


@pytest.mark.parametrize(("query", "candidate"), [("h00-hue.jpg", "h00-base.jpg"),
                                                  ("h00-base__blur.jpg", "h00-base.jpg"),
                                                  ("h01-base.jpg", "h00-base.jpg")])
def test_banded_colour_blocks_are_blocks_of_the_full_check(query: str, candidate: str) -> None:
    toned_query, toned_candidate, valid = _colour_inputs(_picture(query), _picture(candidate))
    block = colour._BLOCK
    delta = colour._colour_difference(toned_query, toned_candidate)
    weights = cv2.boxFilter(valid.astype(np.float32), -1, (block, block), normalize=False)
    sums = cv2.boxFilter(np.where(valid, delta, 0).astype(np.float32), -1, (block, block), normalize=False)
    means = np.where(weights >= 0.6 * block * block, sums / np.maximum(weights, 1.0), -np.inf)
    height, width = valid.shape
    rows = [round(height * share) for share in colour._BANDS]
    expected = max(float(means[row, block // 2:width - block // 2 + 1].max()) for row in rows)
    banded = colour._banded_window_max(toned_query, toned_candidate, valid)
    assert banded == pytest.approx(expected, rel=1e-5)
    assert banded <= difference._window_max(delta, valid, block) * (1 + 1e-5)


def test_another_colour_is_rejected_on_the_bands_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    compared = _calls(monkeypatch, colour, "_colour_difference")
    hue, base = _picture("h00-hue.jpg"), _picture("h00-base.jpg")
    result = verify(hue, base, THRESHOLDS)
    heights = [args[0].shape[0] for args, _result in compared]
    assert not result.accepted and result.colour_diff > THRESHOLDS.max_colour_diff
    assert heights and max(heights) <= colour._BLOCK + 2  # never the whole picture
    compared.clear()
    copy = _picture("h00-base__jpeg_q30.jpg")
    assert verify(copy, base, THRESHOLDS).accepted
    heights = [args[0].shape[0] for args, _result in compared]
    assert max(heights) > colour._BLOCK + 2  # a copy passes the bands, so the whole picture is checked


def test_the_bands_stop_at_the_first_that_decides(monkeypatch: pytest.MonkeyPatch) -> None:
    toned_query, toned_candidate, valid = _colour_inputs(_picture("h00-hue.jpg"), _picture("h00-base.jpg"))
    every_band = colour._banded_window_max(toned_query, toned_candidate, valid)
    calls = _calls(monkeypatch, colour, "_colour_difference")
    limit = THRESHOLDS.max_colour_diff
    first = colour._banded_window_max(toned_query, toned_candidate, valid, limit)
    assert limit < first <= every_band and len(calls) == 1
    calls.clear()
    assert colour._banded_window_max(toned_query, toned_candidate, valid) == every_band
    assert len(calls) == len(colour._BANDS)


def test_an_implausible_alignment_fails_without_comparing_colours(monkeypatch: pytest.MonkeyPatch) -> None:
    # The "shot" look-alike is the product turned 5°: its feature alignment is turned too far to be
    # a copy, so no colour comparison is spent on it.
    colour_checks = _calls(monkeypatch, verdict, "_colour_diff")
    judged = _calls(monkeypatch, verdict, "_evaluate")
    result = verify(_picture("h00-shot.jpg"), _picture("h00-base.jpg"), THRESHOLDS)
    assert not result.accepted
    turned = [v for _args, v in judged if abs(v.rotation_deg) > THRESHOLDS.max_rotation_deg]
    assert turned and all(v.colour_diff == float("inf") for v in turned)
    angles = [abs(np.degrees(np.arctan2(args[2][1, 0], args[2][0, 0]))) for args, _result in colour_checks]
    assert all(angle <= THRESHOLDS.max_rotation_deg for angle in angles)


def test_a_verification_no_longer_needed_stops_at_its_next_step(monkeypatch: pytest.MonkeyPatch) -> None:
    query, candidate = _picture("h00-word.jpg"), _picture("h00-shot.jpg")
    with pytest.raises(VerificationStopped):
        verify(query, candidate, THRESHOLDS, stop=lambda: True)
    # Stopped after the first alignment was judged: nothing after it runs.
    judged = _calls(monkeypatch, verdict, "_evaluate")
    unstopped = verify(query, candidate, THRESHOLDS)
    assert len(judged) > 1 and not unstopped.accepted  # this pair tries more than one alignment
    judged.clear()
    with pytest.raises(VerificationStopped):
        verify(query, candidate, THRESHOLDS, stop=lambda: bool(judged))
    assert len(judged) == 1


def test_a_frame_ecc_aligned_well_is_not_followed_by_feature_alignment(monkeypatch: pytest.MonkeyPatch) -> None:
    # The changed word keeps ECC's correlation just under "confirmed" (0.98) but above the "aligned"
    # bar: the frame is aligned, so ORB features are neither computed nor tried.
    refined = _calls(monkeypatch, alignment, "_refine")
    (query, _), (candidate, _) = _stored("h00-word.jpg"), _stored("h00-line.jpg")
    result = verify(query, candidate, THRESHOLDS)
    assert not result.accepted and result.method == "frame"
    assert alignment._ALIGNED_BY_ECC <= refined[0][1][1] < alignment._CONFIRMED_ALIGNMENT
    assert "features" not in vars(candidate) and "features" not in vars(query)
