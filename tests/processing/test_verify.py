"""Verification of dedup candidates: copies pass, look-alikes fail, and the cheap paths stay sound."""

from __future__ import annotations

import io
from functools import cache

import cv2
import numpy as np
import pytest
from PIL import Image, ImageFilter

from processing import verify as verification
from processing.decode import DecodeLimits, decode
from processing.fingerprint import fingerprint
from processing.verify import VerifyImage, VerifyThresholds, verify
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

    monkeypatch.setattr(verification, "_feature_transform", no_features)
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


def test_warm_up_runs() -> None:
    verification.warm_up()


def test_an_alignment_already_judged_is_not_judged_again(monkeypatch: pytest.MonkeyPatch) -> None:
    # For a changed label, the stretched frame, its ECC polish and the feature alignment all land
    # within a fraction of a pixel: the second and third would only repeat the first verdict.
    judged: list[str] = []
    evaluate = verification._evaluate

    def counting(*args: object) -> verification.Verification:
        judged.append(str(args[2]))
        return evaluate(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(verification, "_evaluate", counting)
    result = verify(_picture("h01-word.jpg"), _picture("h01-base.jpg"), THRESHOLDS)
    assert not result.accepted
    assert judged == ["frame"]


def test_alignments_a_pixel_apart_are_both_judged() -> None:
    image = _picture("h00-base.jpg")
    stretched = verification._same_frame_transform(image.signature, image.signature)
    moved = stretched.copy()
    moved[0, 2] += 1.0
    corners = verification._frame_corners(image.signature.shape, stretched)
    assert float(np.abs(verification._frame_corners(image.signature.shape, moved) - corners).max()) == 1.0
    assert verification._SAME_ALIGNMENT_PX < 1.0


def _textured(seed: int, size: tuple[int, int]) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 255, (size[1], size[0]), dtype=np.uint8)
    return cv2.GaussianBlur(noise, (0, 0), 2.0).astype(np.float32)


def test_two_level_ecc_finds_a_subpixel_shift(monkeypatch: pytest.MonkeyPatch) -> None:
    starts: list[np.ndarray] = []
    ecc = verification._ecc

    def recording(template: np.ndarray, moving: np.ndarray, mask: np.ndarray, start: np.ndarray,
                  iterations: int) -> tuple[float, np.ndarray]:
        starts.append(start.copy())
        return ecc(template, moving, mask, start, iterations)

    monkeypatch.setattr(verification, "_ecc", recording)
    template = _textured(1, (240, 180))
    shift = np.float32([[1.0, 0.0, 2.6], [0.0, 1.0, -1.4]])
    moving = cv2.warpAffine(template, shift, (240, 180), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    mask = np.zeros(template.shape, np.uint8)
    mask[8:-8, 8:-8] = 255  # the reflected border is not the shifted picture
    correlation, found = verification._ecc_two_levels(template, moving, mask)
    assert correlation > 0.98
    # ECC maps template coordinates into the moving picture: the shift comes back as it was applied
    assert found[0, 2] == pytest.approx(2.6, abs=0.1) and found[1, 2] == pytest.approx(-1.4, abs=0.1)
    # the full-size polish starts where the half-size solve ended, in full-size pixels
    assert len(starts) == 2 and np.allclose(starts[1][:, 2], found[:, 2], atol=0.3)


def test_two_level_ecc_solves_small_or_flat_halves_at_full_size(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[tuple[int, ...], int]] = []
    ecc = verification._ecc

    def recording(template: np.ndarray, *rest: object) -> tuple[float, np.ndarray]:
        calls.append((template.shape, int(rest[-1])))  # type: ignore[call-overload]
        return ecc(template, *rest)  # type: ignore[arg-type]

    monkeypatch.setattr(verification, "_ecc", recording)
    small = _textured(2, (40, 40))
    verification._ecc_two_levels(small, small, np.full(small.shape, 255, np.uint8))
    assert calls == [((40, 40), verification._ECC_ITERATIONS)]  # too small to halve

    calls.clear()
    flat_half = _textured(3, (200, 160))
    real_ecc = ecc

    def half_fails(template: np.ndarray, *rest: object) -> tuple[float, np.ndarray]:
        calls.append((template.shape, int(rest[-1])))  # type: ignore[call-overload]
        if template.shape == (80, 100):
            raise cv2.error("the half-size picture has too little texture")
        return real_ecc(template, *rest)  # type: ignore[arg-type]

    monkeypatch.setattr(verification, "_ecc", half_fails)
    verification._ecc_two_levels(flat_half, flat_half, np.full(flat_half.shape, 255, np.uint8))
    assert calls == [((80, 100), verification._ECC_ITERATIONS), ((160, 200), verification._ECC_ITERATIONS)]
