"""Verification of dedup candidates: copies pass, look-alikes fail, and the cheap paths stay sound."""

from __future__ import annotations

import io
from functools import cache

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
