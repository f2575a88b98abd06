"""Fingerprints for dedup: perceptual hashes of the trimmed content plus a small aligned signature."""

from __future__ import annotations

import io
from concurrent.futures import Executor
from dataclasses import dataclass, field
from functools import cached_property

import cv2
import imagehash
import numpy as np
from PIL import Image

from processing.normalize import trim
from processing.verify.image import VerifyImage, fit_long_side

# Bump whenever hashing or the signature changes, so stored fingerprints can be recomputed.
ALGO_VERSION = 2
# Centre crops indexed per picture (share of each side): a copy cropped by up to ~10% still
# meets one of these within half a step.
CROP_LEVELS: tuple[float, ...] = (0.0, 0.03, 0.06, 0.09)
SIGNATURE_SIDE = 256
_PHASH_INPUT = 128
DETAIL_SIDE = 640
# Integer reduction keeps at least this many pixels on the longer side (>= every scale used below).
WORKING_SIDE = 768
_SHARPNESS_SIDE = 512


def to_signed64(value: int) -> int:
    """Store an unsigned 64-bit hash in a signed BIGINT column."""
    return value - (1 << 64) if value >= (1 << 63) else value


def to_unsigned64(value: int) -> int:
    """Undo to_signed64."""
    return value + (1 << 64) if value < 0 else value


def phash64(image: Image.Image) -> int:
    """The 64-bit DCT perceptual hash (median variant) as an unsigned integer.

    The picture is first box-reduced to about four times imagehash's 32-pixel working size, which
    keeps the hash stable and saves a costly Lanczos pass over the full picture.
    """
    factor = max(1, min(image.size) // _PHASH_INPUT)
    bits = imagehash.phash(image.reduce(factor) if factor > 1 else image).hash.ravel()
    # the bits read first to last as one binary number, as imagehash's hex form writes them
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


def centre_crop(image: Image.Image, share: float) -> Image.Image:
    """Cut `share` of each side away, keeping the centre."""
    if share <= 0:
        return image
    dx, dy = round(image.width * share), round(image.height * share)
    if image.width - 2 * dx < 8 or image.height - 2 * dy < 8:
        return image
    return image.crop((dx, dy, image.width - dx, image.height - dy))


@dataclass(frozen=True)
class Fingerprint:
    """Everything dedup needs about one picture, computed once from its decoded pixels."""

    algo_version: int
    hashes: tuple[int, ...]
    content_box: tuple[int, int, int, int]
    content_width: int
    content_height: int
    signature: np.ndarray = field(repr=False, compare=False)
    detail: np.ndarray = field(repr=False, compare=False)
    informative: bool
    sharpness: float
    thumb: bytes

    @cached_property
    def signature_png(self) -> bytes:
        """The signature as stored: encoded only when the fingerprint is kept, not to decide."""
        return _png(Image.fromarray(self.signature))

    @cached_property
    def detail_png(self) -> bytes:
        """The detail image as stored."""
        return _png(Image.fromarray(self.detail))

    @cached_property
    def verify_image(self) -> VerifyImage:
        """The picture as verification sees it, without a round trip through PNG; one per fingerprint,
        so what it caches (features, softened colours) lasts as long as the fingerprint."""
        return VerifyImage(self.signature, self.detail)

    @property
    def aspect(self) -> float:
        """Width over height of the trimmed content."""
        return self.content_width / max(1, self.content_height)


def signature_image(content: Image.Image) -> np.ndarray:
    """The trimmed content as RGB pixels, longer side SIGNATURE_SIDE, for verification."""
    return fit_long_side(np.asarray(content.convert("RGB")), SIGNATURE_SIDE)


def detail_image(content: Image.Image) -> np.ndarray:
    """Greyscale trimmed content at up to DETAIL_SIDE, for spotting small changed details."""
    grey = np.asarray(content.convert("L"))
    return fit_long_side(grey, DETAIL_SIDE) if max(grey.shape) > DETAIL_SIDE else grey


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=1)  # written once, read per candidate: speed over size
    return buffer.getvalue()


def sharpness(content: Image.Image) -> float:
    """Variance of the Laplacian at a fixed scale: low for blurry or upscaled copies."""
    grey = content.convert("L")
    scale = min(1.0, _SHARPNESS_SIDE / max(grey.size))
    if scale < 1.0:
        grey = grey.resize((max(1, round(grey.width * scale)), max(1, round(grey.height * scale))),
                           Image.Resampling.BOX)
    # Integer Laplacian values are exact in float32; meanStdDev accumulates in double.
    _mean, deviation = cv2.meanStdDev(cv2.Laplacian(np.asarray(grey), cv2.CV_32F))
    return float(deviation[0, 0]) ** 2


def is_informative(content: Image.Image) -> bool:
    """False for blank or near-flat pictures whose hashes collide with anything similar."""
    if min(content.size) < 16:
        return False
    grey = np.asarray(content.convert("L").resize((64, 64), Image.Resampling.BOX), dtype=np.float64)
    edges = np.abs(np.diff(grey, axis=0)).mean() + np.abs(np.diff(grey, axis=1)).mean()
    return bool(grey.std() >= 4.0 and edges >= 0.6)


def working_copy(content: Image.Image) -> Image.Image:
    """The trimmed content reduced to at most WORKING_SIDE; every measure below needs no more."""
    factor = max(1, max(content.size) // WORKING_SIDE)
    return content.reduce(factor) if factor > 1 else content


THUMB_SIDE = 8


def thumbnail_bytes(content: Image.Image) -> bytes:
    """The content squeezed to 8×8 RGB (192 bytes): enough to rank candidates by overall look."""
    return content.convert("RGB").resize((THUMB_SIDE, THUMB_SIDE), Image.Resampling.BOX).tobytes()


def coarse_distance(first: bytes, second: bytes) -> float:
    """Mean absolute difference of two 8×8 thumbnails (0-255); copies score low, other products high."""
    a = np.frombuffer(first, dtype=np.uint8).astype(np.int16)
    b = np.frombuffer(second, dtype=np.uint8).astype(np.int16)
    if a.shape != b.shape:
        return 255.0
    return float(np.abs(a - b).mean())


def perceptual_hashes(grey: Image.Image) -> tuple[int, ...]:
    """The indexed hashes (signed 64-bit): the whole content and its centre crops."""
    return tuple(to_signed64(phash64(centre_crop(grey, share))) for share in CROP_LEVELS)


def fingerprint(image: Image.Image, helper: Executor | None = None) -> Fingerprint:
    """Compute hashes, the verification signature and quality measures of a decoded picture.

    With a `helper` pool the hashes are computed on it while this thread computes the rest (the
    image work releases the GIL); if the pool has not started them by then, this thread does.
    """
    content, box = trim(image)
    work = working_copy(content)
    grey = work.convert("L")
    # a private copy: the other thread reads it while this one works on `grey`
    hashing = helper.submit(perceptual_hashes, grey.copy()) if helper is not None else None
    signature, detail = signature_image(work), detail_image(grey)
    informative, crispness, thumb = is_informative(grey), sharpness(grey), thumbnail_bytes(work)
    hashes = perceptual_hashes(grey) if hashing is None or hashing.cancel() else hashing.result()
    return Fingerprint(
        algo_version=ALGO_VERSION,
        hashes=hashes,
        content_box=box,
        content_width=content.width,
        content_height=content.height,
        signature=signature,
        detail=detail,
        informative=informative,
        sharpness=crispness,
        thumb=thumb,
    )
