"""Fingerprints: copies of one picture hash close together, other pictures hash far apart."""

from __future__ import annotations

import io
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import imagehash
import numpy as np
import pytest
from PIL import Image, ImageFilter

from processing import fingerprint as fp
from processing.decode import DecodeLimits, decode
from tests.fixtures import media

LIMITS = DecodeLimits()
# Copies of the same picture: at most this many of 64 bits differ in the uncropped hash.
NEAR = 6
# Different pictures: at least this many bits differ, whichever crop levels are compared.
FAR = 18


def _hamming(a: int, b: int) -> int:
    return bin(fp.to_unsigned64(a) ^ fp.to_unsigned64(b)).count("1")


def _of(data: bytes) -> fp.Fingerprint:
    return fp.fingerprint(decode(data, LIMITS).image)


@cache
def _original() -> Image.Image:
    return media.product_on_white((800, 600))


@cache
def _reference() -> fp.Fingerprint:
    return _of(media.encode(_original(), "PNG"))


@cache
def _copies() -> dict[str, bytes]:
    original = _original()
    return {
        "jpeg_q70": media.encode(original, "JPEG", quality=70),
        "jpeg_q40": media.encode(original, "JPEG", quality=40),
        "webp_q75": media.encode(original, "WEBP", quality=75),
        "half_size": media.encode(original.resize((400, 300), Image.Resampling.LANCZOS), "PNG"),
        "double_size": media.encode(
            original.resize((1600, 1200), Image.Resampling.LANCZOS), "JPEG", quality=85
        ),
        "padded_30pct": media.encode(media.pad(original, 0.3), "PNG"),
        "cmyk_jpeg": media.jpeg(original.convert("CMYK")),
        "cmyk_jpeg_icc": media.jpeg(original.convert("CMYK"), icc_profile=media.cmyk_icc()),
        "exif_rotated_6": media.with_exif_orientation(media.stored_for_orientation(original, 6), 6),
        "exif_rotated_3": media.with_exif_orientation(media.stored_for_orientation(original, 3), 3),
        "with_shadow": media.encode(
            media.product_on_white((800, 600), faint_shadow=True), "JPEG", quality=80
        ),
        "transparent_cutout": media.encode(media.on_transparent(original), "PNG"),
    }


COPIES = sorted(_copies())


@pytest.mark.parametrize("name", COPIES)
def test_copies_hash_near_the_original(name: str) -> None:
    copy = _of(_copies()[name])
    reference = _reference()
    assert _hamming(copy.hashes[0], reference.hashes[0]) <= NEAR
    for ours, theirs in zip(copy.hashes, reference.hashes, strict=True):  # every crop level agrees too
        assert _hamming(ours, theirs) <= NEAR + 2
    assert abs(copy.aspect - reference.aspect) < 0.03


@pytest.mark.parametrize(
    "other",
    [
        pytest.param(lambda: media.unrelated_picture(), id="unrelated_product"),
        pytest.param(lambda: media.unrelated_picture().rotate(90, expand=True), id="unrelated_rotated"),
        pytest.param(lambda: media.card(), id="test_card"),
    ],
)
def test_unrelated_pictures_hash_far(other: object) -> None:
    assert callable(other)
    theirs = _of(media.encode(other(), "PNG"))
    ours = _reference()
    assert min(_hamming(a, b) for a in ours.hashes for b in theirs.hashes) >= FAR


def test_fingerprint_shape() -> None:
    result = _reference()
    assert result.algo_version == fp.ALGO_VERSION
    assert len(result.hashes) == len(fp.CROP_LEVELS)
    assert all(-(1 << 63) <= value < (1 << 63) for value in result.hashes)
    assert result.informative
    box = result.content_box
    assert (result.content_width, result.content_height) == (box[2] - box[0], box[3] - box[1])
    assert abs(result.aspect - result.content_width / result.content_height) < 1e-9


def test_signature_is_a_png_of_the_trimmed_content() -> None:
    result = _reference()
    with Image.open(io.BytesIO(result.signature_png), formats=["PNG"]) as signature:
        assert max(signature.size) == fp.SIGNATURE_SIDE
        assert abs(signature.width / signature.height - result.aspect) < 0.02
        assert signature.info.get("icc_profile") is None


def test_fingerprint_is_deterministic() -> None:
    data = media.encode(_original(), "JPEG", quality=80)
    assert _of(data) == _of(data)


def test_blank_and_tiny_pictures_are_not_informative() -> None:
    assert not _of(media.encode(Image.new("RGB", (300, 300), (255, 255, 255)), "PNG")).informative
    assert not _of(media.encode(Image.new("RGB", (300, 300), (120, 130, 140)), "PNG")).informative
    assert not fp.fingerprint(media.card().resize((12, 8))).informative  # too small to tell anything


def test_blurry_copy_is_less_sharp() -> None:
    blurred = _of(media.encode(_original().filter(ImageFilter.GaussianBlur(3)), "PNG"))
    assert blurred.sharpness < _reference().sharpness / 5


@pytest.mark.parametrize("value", [0, 1, (1 << 63) - 1, 1 << 63, (1 << 64) - 1])
def test_signed_storage_round_trip(value: int) -> None:
    signed = fp.to_signed64(value)
    assert -(1 << 63) <= signed < (1 << 63)
    assert fp.to_unsigned64(signed) == value


def test_centre_crop() -> None:
    image = Image.new("RGB", (200, 100))
    assert fp.centre_crop(image, 0.0) is image
    assert fp.centre_crop(image, 0.1).size == (160, 80)
    assert fp.centre_crop(Image.new("RGB", (10, 10)), 0.3).size == (10, 10)  # too small to crop


def test_a_helper_pool_computes_the_same_fingerprint(monkeypatch: pytest.MonkeyPatch) -> None:
    image = decode(media.encode(_original(), "JPEG", quality=85), DecodeLimits()).image
    serial = fp.fingerprint(image)
    hashed_on: list[str] = []
    helper_started = threading.Event()
    hashes, signature_image = fp.perceptual_hashes, fp.signature_image

    def recording(grey: Image.Image) -> tuple[int, ...]:
        hashed_on.append(threading.current_thread().name)
        helper_started.set()
        return hashes(grey)

    def after_the_helper_started(work: Image.Image) -> np.ndarray:
        helper_started.wait(10)  # make the helper's turn deterministic, however loaded the machine
        return signature_image(work)

    monkeypatch.setattr(fp, "perceptual_hashes", recording)
    with ThreadPoolExecutor(1, thread_name_prefix="helper") as pool:
        with monkeypatch.context() as waiting:
            waiting.setattr(fp, "signature_image", after_the_helper_started)
            helped = fp.fingerprint(image, pool)
        # A busy pool: the hashes are not waited for, this thread computes them.
        gate = threading.Event()
        pool.submit(gate.wait, 30)
        try:
            busy = fp.fingerprint(image, pool)
        finally:
            gate.set()
    assert helped == serial == busy
    assert np.array_equal(helped.signature, serial.signature) and np.array_equal(helped.detail, serial.detail)
    assert hashed_on == ["helper_0", threading.current_thread().name]


def test_hashes_read_as_imagehash_writes_them() -> None:
    grey = _original().convert("L")
    for share in fp.CROP_LEVELS:
        crop = fp.centre_crop(grey, share)
        factor = max(1, min(crop.size) // 128)
        assert fp.phash64(crop) == int(str(imagehash.phash(crop.reduce(factor) if factor > 1 else crop)), 16)
