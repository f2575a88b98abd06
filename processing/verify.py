"""Verification of a dedup candidate: align the two pictures and look for any region that changed.

Hashes only nominate candidates. A merge needs the aligned pictures to agree everywhere: another
colour shows in the colour check at signature scale; a changed label line ("500 ml" against
"300 ml") shows in the detail check, done at the finer of the two pictures' common scales; another
camera angle fails alignment (rotation) or leaves large differences.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

import cv2
import numpy as np

_BLOCK = 16
_CLIPPED = 250.0
_REFINE_SIDE = 320
_ECC_ITERATIONS = 30
# The half-size solve and its full-size polish. Copies converge well within these; pictures that do
# not converge are other pictures, and every iteration spent on them was waste (docs/dedup.md: on
# 15,408 candidate pairs of both corpora, 30 + 5 and 12 + 2 give the same verdict on every pair).
_ECC_HALF_ITERATIONS = 12
_ECC_POLISH_ITERATIONS = 2
_ECC_MIN_SIDE = 24
_CONFIRMED_ALIGNMENT = 0.98
# ECC converged at least this well: the stretched frame is aligned more precisely than ORB features
# could align it, so feature alignment (for frames ECC could not align) is not tried. On both
# corpora every copy a feature alignment rescued had a failed ECC (correlation 0), and none of the
# 3,946 pairs that tried more alignments after an ECC correlation of 0.8 or more passed on one.
_ALIGNED_BY_ECC = 0.9
_ECC_EPS = 1e-4  # smooth pictures (gradients) need the tight bound: ECC creeps along them
_CLEARLY_DIFFERENT = 2.5
_HOPELESS = 5.0
_COLOUR_BLUR = 1.0
_HIGHLIGHT = 220.0
_BASE_BLUR = 0.8
_EXTRA_BLURS = (0.7, 1.2, 1.8)
_SHARPENINGS = ((1.0, 0.6), (1.0, 1.2), (2.0, 0.6), (2.0, 1.2))
_ORB_FEATURES = 1500
# Alignments whose frame corners lie this close (signature pixels) see the same picture: the colour
# check forgives a one-pixel shift, so judging the second one again cannot change the verdict.
_SAME_ALIGNMENT_PX = 0.5
# Rows (shares of the height) whose colour blocks are judged before the whole picture's.
_BANDS = (0.5, 0.25, 0.75)
# The banded and the full block means add the same values in another order: a bound must clear the
# limit by more than that rounding before it decides.
_BOUND_SLACK = 1e-3
_NEIGHBOURS = np.ones((3, 3), np.uint8)
_SUM_CHANNELS = np.ones((1, 3), np.float32)


_Value = TypeVar("_Value")


class computed_once(Generic[_Value]):
    """A per-instance cached attribute without functools.cached_property's lock.

    On Python 3.11 that lock is one per attribute for the whole class: while one verification
    thread computed a candidate's ORB features, the other waited to compute another picture's. Two
    threads computing the same picture's value at once both get an equal value, so no lock is needed.
    """

    def __init__(self, compute: Callable[[Any], _Value]) -> None:
        self._compute = compute
        self._name = compute.__name__
        self.__doc__ = compute.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    def __get__(self, instance: Any, owner: type | None = None) -> _Value:
        if instance is None:
            return self  # type: ignore[return-value]  # class access, as for any descriptor
        try:
            return instance.__dict__[self._name]
        except KeyError:
            value = instance.__dict__[self._name] = self._compute(instance)
            return value


@dataclass(frozen=True)
class VerifyThresholds:
    """Limits a candidate must meet to be the same picture; calibrated in docs/dedup.md."""

    max_structure_diff: float = 10.0
    max_colour_diff: float = 8.0
    min_overlap: float = 0.6
    max_rotation_deg: float = 2.0
    min_inliers: int = 12
    same_frame_aspect_tolerance: float = 0.04


@dataclass(frozen=True)
class DetailSummary:
    """What choosing the moving picture needs of a detail image: its long side and its edge energy there.

    Stored with each fingerprint, so a candidate rejected on colour never has its detail image
    fetched or decoded: only the detail check reads those pixels.
    """

    long_side: int
    edge_energy: float


class VerifyImage:
    """A picture as verification sees it: RGB signature (long side 256) and grey detail (<= 640).

    The detail image may be given as a loader: it is then fetched and decoded on first use, which
    for most rejected candidates is never.
    """

    def __init__(self, signature: np.ndarray, detail: np.ndarray | Callable[[], np.ndarray],
                 summary: DetailSummary | None = None) -> None:
        self.signature = signature
        self._detail = detail
        self._edge_energies: dict[int, float] = {}
        if summary is not None:  # seeds the cached attributes, so the detail image is not loaded for them
            self.__dict__["detail_side"] = summary.long_side
            self._edge_energies[summary.long_side] = summary.edge_energy

    @classmethod
    def from_png(cls, signature_png: bytes, detail_png: bytes | Callable[[], bytes],
                 summary: DetailSummary | None = None) -> VerifyImage:
        """Decode the stored PNGs (written by the fingerprint step, so trusted and small); a detail
        given as a loader is fetched and decoded only when needed."""
        signature = _decode_png(signature_png, cv2.IMREAD_COLOR)
        if isinstance(detail_png, bytes):
            return cls(signature, _decode_png(detail_png, cv2.IMREAD_GRAYSCALE), summary)
        load = detail_png
        return cls(signature, lambda: _decode_png(load(), cv2.IMREAD_GRAYSCALE), summary)

    @computed_once
    def detail(self) -> np.ndarray:
        """The grey detail image, loaded on first use when it was given as a loader."""
        return self._detail if isinstance(self._detail, np.ndarray) else self._detail()

    @computed_once
    def detail_side(self) -> int:
        """The detail image's longer side."""
        return max(self.detail.shape)

    @computed_once
    def summary(self) -> DetailSummary:
        """The detail image's long side and edge energy there, as stored with the fingerprint."""
        return DetailSummary(self.detail_side, self.edge_energy(self.detail_side))

    @computed_once
    def grey(self) -> np.ndarray:
        """The signature in greyscale, for intensity alignment and features."""
        return cv2.cvtColor(self.signature, cv2.COLOR_RGB2GRAY)

    @computed_once
    def features(self) -> tuple[np.ndarray, np.ndarray | None]:
        """ORB keypoint positions and descriptors of the signature: computed once per picture, not per pair."""
        orb = cv2.ORB.create(nfeatures=_ORB_FEATURES, fastThreshold=10, edgeThreshold=15, patchSize=15)
        points, descriptors = orb.detectAndCompute(self.grey, None)
        return np.array([point.pt for point in points], dtype=np.float32).reshape(-1, 2), descriptors

    @computed_once
    def colour_softened(self) -> np.ndarray:
        """The signature as float, softened as the colour check compares it: once per picture, not per pair."""
        return cv2.GaussianBlur(self.signature.astype(np.float32), (0, 0), _COLOUR_BLUR)

    def edge_energy(self, long_side: int) -> float:
        """Mean absolute Laplacian of the detail image brought to `long_side`: higher for the crisper picture."""
        if (energy := self._edge_energies.get(long_side)) is None:
            shrunk = fit_long_side(self.detail, long_side)
            energy = float(cv2.mean(cv2.convertScaleAbs(cv2.Laplacian(shrunk, cv2.CV_16S)))[0])
            self._edge_energies[long_side] = energy
        return energy


@dataclass(frozen=True)
class Verification:
    """The outcome of comparing two aligned pictures."""

    accepted: bool
    score: float
    method: str
    structure_diff: float
    colour_diff: float
    overlap: float
    rotation_deg: float
    scale: float
    inliers: int

    def as_dict(self) -> dict[str, float | int | str | bool]:
        """A JSON-friendly view for match explanations."""
        def clean(value: float) -> float:
            return round(float(value), 4) if math.isfinite(value) else -1.0

        return {
            "accepted": self.accepted,
            "score": clean(self.score),
            "method": self.method,
            "structure_diff": clean(self.structure_diff),
            "colour_diff": clean(self.colour_diff),
            "overlap": clean(self.overlap),
            "rotation_deg": clean(self.rotation_deg),
            "scale": clean(self.scale),
            "inliers": int(self.inliers),
        }


class UnreadableVerificationImage(ValueError):
    """A stored verification image is not the PNG the fingerprint step wrote (damaged or replaced)."""


def _decode_png(data: bytes, mode: int) -> np.ndarray:
    """One stored verification PNG as RGB or grey pixels; OpenCV decodes them ~25% faster than Pillow."""
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise UnreadableVerificationImage("not a PNG verification image")
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), mode)
    if pixels is None:
        raise UnreadableVerificationImage("unreadable PNG verification image")
    return cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB) if mode == cv2.IMREAD_COLOR else pixels


def fit_long_side(pixels: np.ndarray, long_side: int) -> np.ndarray:
    """Scale so the longer side is `long_side`: area averaging to shrink (no aliasing of fine print),
    bilinear to enlarge."""
    height, width = pixels.shape[:2]
    scale = long_side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if size == (width, height):
        return pixels
    return cv2.resize(pixels, size, interpolation=cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR)


def _homogeneous(matrix: np.ndarray) -> np.ndarray:
    return np.vstack([matrix, [0.0, 0.0, 1.0]])


def _same_frame_transform(query: np.ndarray, candidate: np.ndarray) -> np.ndarray:
    sx = query.shape[1] / candidate.shape[1]
    sy = query.shape[0] / candidate.shape[0]
    return np.array([[sx, 0.0, 0.0], [0.0, sy, 0.0]], dtype=np.float64)


def _feature_transform(query: VerifyImage, candidate: VerifyImage) -> tuple[np.ndarray | None, int]:
    q_points, q_desc = query.features
    c_points, c_desc = candidate.features
    if q_desc is None or c_desc is None or len(q_points) < 8 or len(c_points) < 8:
        return None, 0
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(c_desc, q_desc, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < 0.8 * p[1].distance]
    if len(good) < 8:
        return None, 0
    src = c_points[[m.queryIdx for m in good]].reshape(-1, 1, 2)
    dst = q_points[[m.trainIdx for m in good]].reshape(-1, 1, 2)
    matrix, inlier_mask = cv2.estimateAffinePartial2D(
        src, dst, method=cv2.RANSAC, ransacReprojThreshold=2.5, maxIters=2000, confidence=0.995
    )
    if matrix is None or inlier_mask is None:
        return None, 0
    return matrix.astype(np.float64), int(inlier_mask.sum())


def _warp(image: np.ndarray, matrix: np.ndarray, size: tuple[int, int], fill: int | tuple[int, ...]) -> np.ndarray:
    scale = math.sqrt(abs(np.linalg.det(matrix[:, :2])))
    if scale < 0.75:  # shrink first with area averaging: warpAffine alone would alias fine text
        width = max(1, round(image.shape[1] * scale))
        height = max(1, round(image.shape[0] * scale))
        shrink = np.diag([image.shape[1] / width, image.shape[0] / height, 1.0])
        image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
        matrix = (_homogeneous(matrix) @ shrink)[:2]
    return cv2.warpAffine(image, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=fill)


def _valid_mask(shape: tuple[int, ...], matrix: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    ones = np.full(shape[:2], 255, np.uint8)
    valid = cv2.warpAffine(ones, matrix, size, flags=cv2.INTER_NEAREST, borderValue=0)
    return cv2.erode(valid, np.ones((5, 5), np.uint8)) > 0


def _outside(values: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    # low <= high everywhere, so at most one of the two excesses is positive
    excess = cv2.max(cv2.subtract(values, high), cv2.subtract(low, values))
    return np.maximum(excess, 0.0, out=excess)


def _shift_tolerant(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Per pixel difference that forgives one-pixel misalignment, in both directions.

    A pixel differs only by how far it lies outside the other picture's 3x3 neighbourhood range;
    checking both ways keeps a stroke present in just one picture visible.
    """
    delta = cv2.max(_outside(first, cv2.erode(second, _NEIGHBOURS), cv2.dilate(second, _NEIGHBOURS)),
                    _outside(second, cv2.erode(first, _NEIGHBOURS), cv2.dilate(first, _NEIGHBOURS)))
    if delta.ndim == 3:
        delta = cv2.sqrt(cv2.transform(cv2.multiply(delta, delta), _SUM_CHANNELS))
    return delta


def _tone_fit(source: np.ndarray, target: np.ndarray, gain_range: tuple[float, float],
              offset_limit: float) -> tuple[float, float]:
    """Least-squares gain and offset mapping source onto target, clamped to a plausible edit.

    Clipped highlights are left out of the fit: a brightened copy saturates its whites, and those
    pixels would drag the fit back towards "no change".
    """
    unclipped = (source < _CLIPPED) & (target < _CLIPPED)
    if unclipped.sum() >= 64:
        source, target = source[unclipped], target[unclipped]
    source_mean, target_mean = float(source.mean()), float(target.mean())
    variance = float(((source - source_mean) ** 2).mean())
    gain = float(((source - source_mean) * (target - target_mean)).mean()) / variance if variance > 1e-6 else 1.0
    gain = float(np.clip(gain, *gain_range))
    offset = float(np.clip(target_mean - gain * source_mean, -offset_limit, offset_limit))
    return gain, offset


def _match_tones(first: np.ndarray, second: np.ndarray, valid: np.ndarray, gain_range: tuple[float, float],
                 offset_limit: float) -> tuple[np.ndarray, np.ndarray]:
    """Map the darker picture's tones onto the brighter one's, clipping like a camera.

    Brightening saturates highlights. Mapping the brighter picture down would turn its clipped
    whites into greys the other picture never had; mapping the darker one up clips the same way.
    """
    # A global tone curve is well estimated from every other row and column; a quarter of the work.
    rows = np.flatnonzero(valid[::2, ::2])
    first_sample, second_sample = _take_rows(first[::2, ::2], rows), _take_rows(second[::2, ::2], rows)
    gain, offset = _tone_fit(second_sample, first_sample, gain_range, offset_limit)
    if _HIGHLIGHT * gain + offset >= _HIGHLIGHT:  # `second` is the darker one in the highlights
        return first, _apply_tone(second, gain, offset)
    gain, offset = _tone_fit(first_sample, second_sample, gain_range, offset_limit)
    return _apply_tone(first, gain, offset), second


def _take_rows(image: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The values of the listed pixels (flat indices), all channels, as one flat array."""
    pixels = np.ascontiguousarray(image)
    return np.take(pixels.reshape(len(pixels) * pixels.shape[1], -1), rows, axis=0).ravel()


def _apply_tone(image: np.ndarray, gain: float, offset: float) -> np.ndarray:
    mapped = cv2.addWeighted(image, gain, image, 0.0, offset)
    return np.clip(mapped, 0.0, 255.0, out=mapped)


def _window_max(values: np.ndarray, valid: np.ndarray, window: int) -> float:
    """The largest mean of `values` over square windows that lie mostly inside `valid`."""
    inside = valid.astype(np.float32)
    weights = cv2.boxFilter(inside, -1, (window, window), normalize=False)
    # values are finite differences, so masking by multiplication equals selecting; the masked
    # maximum of the quotients equals numpy's gather-then-divide exactly, without two gathers
    sums = cv2.boxFilter(cv2.multiply(values.astype(np.float32, copy=False), inside), -1, (window, window),
                         normalize=False)
    usable = (weights >= 0.6 * window * window).view(np.uint8)
    if not usable.any():
        return float("inf")
    return float(cv2.minMaxLoc(cv2.divide(sums, weights), mask=usable)[1])


def _colour_difference(query_rgb: np.ndarray, cand_rgb: np.ndarray) -> np.ndarray:
    """Per pixel CIELAB ΔE of two softened, tone-matched float RGB pictures, tolerant of a one-pixel shift."""
    query_lab = cv2.cvtColor(query_rgb / np.float32(255.0), cv2.COLOR_RGB2LAB)
    cand_lab = cv2.cvtColor(cand_rgb / np.float32(255.0), cv2.COLOR_RGB2LAB)
    return _shift_tolerant(cand_lab, query_lab)


def _banded_window_max(query_rgb: np.ndarray, cand_rgb: np.ndarray, valid: np.ndarray,
                       enough: float = math.inf) -> float:
    """The largest colour block difference among the blocks centred on a few rows: a lower bound.

    Every block here is one of those the full check takes the maximum of (_window_max places a
    16-pixel box on each pixel the same way), and each pixel's difference is computed from the same
    neighbourhood, so when these blocks already fail, the rest cannot change the verdict. Another
    product differs almost everywhere, which these rows see; a changed label line may lie between
    them, and then the full check runs. -inf when no band fits. Stops at the first band over
    `enough`: one band already decides.
    """
    height, width = valid.shape
    half = _BLOCK // 2
    best = -math.inf
    if width < _BLOCK:
        return best
    box = np.ones(_BLOCK)
    for share in _BANDS:
        top = round(height * share) - half  # a box placed on row r covers rows r-8 .. r+7
        bottom = top + _BLOCK
        if top < 0 or bottom > height:
            continue
        above, below = max(0, top - 1), min(height, bottom + 1)  # the shift tolerance looks one row further
        delta = _colour_difference(query_rgb[above:below], cand_rgb[above:below])[top - above:bottom - above]
        inside = valid[top:bottom]
        sums = np.convolve(np.where(inside, delta, 0.0).sum(axis=0, dtype=np.float64), box, "valid")
        weights = np.convolve(inside.sum(axis=0, dtype=np.float64), box, "valid")
        usable = weights >= 0.6 * _BLOCK * _BLOCK
        if usable.any():
            best = max(best, float((sums[usable] / weights[usable]).max()))
            if best > enough:
                break
    return best


def _coverage(candidate: VerifyImage, size: tuple[int, int], matrix: np.ndarray) -> tuple[np.ndarray, float]:
    """Where the warped candidate covers the query's signature, and the overlap: the smaller of the
    covered share of the query and the share of the candidate that lands inside it."""
    valid = _valid_mask(candidate.signature.shape, matrix, size)
    cand_area = candidate.signature.shape[0] * candidate.signature.shape[1] * abs(np.linalg.det(matrix[:, :2]))
    return valid, min(float(valid.mean()), float(valid.sum()) / max(1.0, cand_area))


def _colour_diff(query: VerifyImage, candidate: VerifyImage, matrix: np.ndarray, valid: np.ndarray,
                 limit: float) -> float:
    """Largest block colour difference (CIELAB, after a bounded per-channel tone fit) where `valid`.

    Over `limit`, a lower bound may be returned instead of the largest difference: the verdict is
    the same, and rejecting another product costs a fraction of the full check.
    """
    query_rgb = query.signature
    height, width = query_rgb.shape[:2]
    if valid.sum() < 64:
        return float("inf")
    warped = _warp(candidate.signature, matrix, (width, height), (255, 255, 255))
    cand = cv2.GaussianBlur(warped.astype(np.float32), (0, 0), _COLOUR_BLUR)
    # One tone curve for all three channels: brightness and contrast edits treat channels alike,
    # while separate per-channel gains would start to cancel a genuine hue difference.
    toned_query, cand = _match_tones(query.colour_softened, cand, valid, (0.88, 1.14), 16.0)
    decisive = limit * (1.0 + _BOUND_SLACK)
    banded = _banded_window_max(toned_query, cand, valid, decisive)
    if banded > decisive:
        return banded
    return _window_max(_colour_difference(toned_query, cand), valid, _BLOCK)


def _refine(query_detail: np.ndarray, candidate_detail: np.ndarray, matrix: np.ndarray) -> tuple[np.ndarray, float]:
    """Polish a coarse candidate→query transform to sub-pixel accuracy (ECC, affine motion).

    The signature-scale estimate can be off by a percent in scale, which is several pixels at the
    detail scale: enough to make every edge look changed. Returns the transform and the correlation
    ECC reached with it; a failed refinement keeps the estimate, with correlation 0.
    """
    height, width = query_detail.shape
    warped = _warp(candidate_detail, matrix, (width, height), 255)
    factor = max(1, round(max(height, width) / _REFINE_SIDE))
    small_size = (max(8, width // factor), max(8, height // factor))
    template = cv2.resize(query_detail, small_size, interpolation=cv2.INTER_AREA).astype(np.float32)
    moving = cv2.resize(warped, small_size, interpolation=cv2.INTER_AREA).astype(np.float32)
    # Only where the candidate actually covers the query may ECC compare; the fill outside would pull it.
    covered = _valid_mask(candidate_detail.shape, matrix, (width, height)).astype(np.uint8) * 255
    mask = cv2.resize(covered, small_size, interpolation=cv2.INTER_NEAREST)
    try:
        correlation, found = _ecc_two_levels(template, moving, mask)
    except cv2.error:
        return matrix, 0.0
    warp = np.asarray(found, dtype=np.float64)
    sx, sy = width / small_size[0], height / small_size[1]
    to_full = np.diag([sx, sy, 1.0])
    correction = to_full @ _homogeneous(warp) @ np.linalg.inv(to_full)
    # findTransformECC maps query coordinates into the warped candidate; invert to compose.
    refined = np.linalg.inv(correction) @ _homogeneous(matrix)
    shift = float(np.abs(refined[:2, 2] - matrix[:2, 2]).max())
    linear = float(np.abs(refined[:2, :2] - matrix[:2, :2]).max())
    if shift > 0.06 * max(height, width) or linear > 0.12:
        return matrix, 0.0  # ECC wandered off; the coarse estimate is safer
    return refined[:2], float(correlation)


def _ecc(template: np.ndarray, moving: np.ndarray, mask: np.ndarray, start: np.ndarray,
         iterations: int) -> tuple[float, np.ndarray]:
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, iterations, _ECC_EPS)
    correlation, found = cv2.findTransformECC(template, moving, start, cv2.MOTION_AFFINE, criteria, mask, 3)
    return float(correlation), found


def _ecc_two_levels(template: np.ndarray, moving: np.ndarray, mask: np.ndarray) -> tuple[float, np.ndarray]:
    """ECC affine alignment solved at half size, then polished at full size.

    An ECC iteration costs in proportion to the pixels and most are spent crossing the distance
    to the optimum, so those run at a quarter of the pixels; the full-size iterations only add the
    last fraction of a pixel. Where the half-size problem fails (too little texture left at that
    size), the full-size one is solved from the start.
    """
    height, width = template.shape
    identity = np.eye(2, 3, dtype=np.float32)
    if min(height, width) < 2 * _ECC_MIN_SIDE:
        return _ecc(template, moving, mask, identity, _ECC_ITERATIONS)
    half = (width // 2, height // 2)
    try:
        _correlation, coarse = _ecc(cv2.resize(template, half, interpolation=cv2.INTER_AREA),
                                    cv2.resize(moving, half, interpolation=cv2.INTER_AREA),
                                    cv2.resize(mask, half, interpolation=cv2.INTER_NEAREST), identity,
                                    _ECC_HALF_ITERATIONS)
    except cv2.error:
        return _ecc(template, moving, mask, identity, _ECC_ITERATIONS)
    start = coarse.copy()
    start[:, 2] *= (width / half[0], height / half[1])
    return _ecc(template, moving, mask, start, _ECC_POLISH_ITERATIONS)


def _match_detail_level(query: np.ndarray, candidate: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bring both pictures to a common sharpness: soften the crisper one or sharpen the softer one.

    Resellers blur, sharpen and upscale; those change every edge a little, never one region. The
    choice is global (one filter for the whole picture), so it cannot hide a locally changed label.
    """
    base_q = cv2.GaussianBlur(query, (0, 0), _BASE_BLUR)
    base_c = cv2.GaussianBlur(candidate, (0, 0), _BASE_BLUR)
    mask = valid.astype(np.uint8)
    # Only the filters that move the two towards each other are worth trying.
    query_crisper = _edge_level(base_q, mask) > _edge_level(base_c, mask)
    crisp, soft = (base_q, base_c) if query_crisper else (base_c, base_q)

    def error(first: np.ndarray, second: np.ndarray) -> float:
        return float(cv2.mean(cv2.absdiff(first, second), mask=mask)[0])

    best = (error(crisp, soft), crisp, soft)
    for sigma in _EXTRA_BLURS:
        softened = cv2.GaussianBlur(crisp, (0, 0), sigma)
        if (found := error(softened, soft)) < best[0]:
            best = (found, softened, soft)
    blurred_soft = {radius: cv2.GaussianBlur(soft, (0, 0), radius) for radius in {r for r, _ in _SHARPENINGS}}
    for radius, amount in _SHARPENINGS:
        # clipped like a real sharpened file: halos around dark print on a light label saturate
        sharpened = np.clip(cv2.addWeighted(soft, 1.0 + amount, blurred_soft[radius], -amount, 0.0), 0, 255)
        if (found := error(crisp, sharpened)) < best[0]:
            best = (found, crisp, sharpened)
    _error, crisp_out, soft_out = best
    return (crisp_out, soft_out) if query_crisper else (soft_out, crisp_out)


def _edge_level(image: np.ndarray, mask: np.ndarray) -> float:
    return float(cv2.mean(np.abs(cv2.Laplacian(image, cv2.CV_32F)), mask=mask)[0])


def _structure_diff(query: VerifyImage, candidate: VerifyImage, matrix: np.ndarray, good_enough: float,
                    refine: bool) -> float:
    """Largest windowed grey difference at the finer common detail scale, shift tolerant.

    Below `good_enough` with plain filtering the answer is final; only pictures that look changed
    pay for the search over blur and sharpening.
    """
    q_sig_h, q_sig_w = query.signature.shape[:2]
    c_sig_h, c_sig_w = candidate.signature.shape[:2]
    long_side = min(query.detail_side, candidate.detail_side)
    q_detail = fit_long_side(query.detail, long_side)
    height, width = q_detail.shape
    to_query = np.diag([width / q_sig_w, height / q_sig_h, 1.0])
    from_candidate = np.diag([c_sig_w / candidate.detail.shape[1], c_sig_h / candidate.detail.shape[0], 1.0])
    fine = (to_query @ _homogeneous(matrix) @ from_candidate)[:2]
    if refine:
        fine, _correlation = _refine(q_detail, candidate.detail, fine)
    warped = _warp(candidate.detail, fine, (width, height), 255)
    valid = _valid_mask(candidate.detail.shape, fine, (width, height))
    if valid.sum() < 64:
        return float("inf")
    window = max(6, round(max(width, height) / 48))
    # Filters smear differently at the content box's edge (which trimming places on the object's
    # outline); judge the interior, where labels and printing are.
    margin = max(3, window // 2)
    interior = cv2.erode(valid.astype(np.uint8), np.ones((2 * margin + 1, 2 * margin + 1), np.uint8),
                         borderType=cv2.BORDER_CONSTANT, borderValue=0) > 0
    judged = interior if interior.sum() >= 64 else valid
    query_f, warped_f = q_detail.astype(np.float32), warped.astype(np.float32)

    def worst_window(q: np.ndarray, c: np.ndarray) -> float:
        q, c = _match_tones(q, c, valid, (0.85, 1.18), 20.0)
        return _window_max(_shift_tolerant(c, q), judged, window)

    plain = worst_window(cv2.GaussianBlur(query_f, (0, 0), _BASE_BLUR), cv2.GaussianBlur(warped_f, (0, 0), _BASE_BLUR))
    if plain <= good_enough or plain > _HOPELESS * good_enough:
        # Either already the same, or a difference (a changed word, another product) that no
        # global blur or sharpening comes near explaining: skip the filter search.
        return plain
    return min(plain, worst_window(*_match_detail_level(query_f, warped_f, valid)))


def _hypotheses(query: VerifyImage, candidate: VerifyImage, thresholds: VerifyThresholds,
                stop: Callable[[], bool]) -> Iterator[tuple[str, np.ndarray, int, bool]]:
    """Candidate→query alignments, cheapest first; later ones are only built if earlier ones fail.

    The flag marks an alignment intensity matching confirmed (the pictures correlate closely once
    aligned): its verdict is final, since any other alignment would only see the same differences.
    A stretched frame ECC aligned well is not followed by a feature alignment, which is coarser.
    """
    q_sig, c_sig = query.signature, candidate.signature
    same_aspect = abs((q_sig.shape[1] / q_sig.shape[0]) / (c_sig.shape[1] / c_sig.shape[0]) - 1.0) \
        <= thresholds.same_frame_aspect_tolerance
    if same_aspect:
        # Same framing up to a few pixels of trimming: stretch, then let intensity alignment (ECC)
        # take out the remaining offset. This also serves pictures with too few corners for features.
        frame = _same_frame_transform(q_sig, c_sig)
        refined, correlation = _refine(query.grey, candidate.grey, frame)
        yield "frame", refined, 0, correlation >= _CONFIRMED_ALIGNMENT
        if refined is not frame:
            yield "plain_frame", frame, 0, False  # ECC can slide along smooth gradients
        if correlation >= _ALIGNED_BY_ECC:
            return
    _check(stop)
    matrix, inliers = _feature_transform(query, candidate)
    if matrix is not None and inliers >= thresholds.min_inliers:
        yield "features", matrix, inliers, False


def _evaluate(query: VerifyImage, candidate: VerifyImage, method: str, transform: np.ndarray, inliers: int,
              thresholds: VerifyThresholds) -> Verification:
    """Judge one alignment: geometry, then colour, then (only if those pass) the detail check.

    An implausible alignment (turned too far, overlapping too little) fails without its colours
    being compared: no colour could make it pass. Its colour difference is reported as unmeasured.
    """
    scale = math.hypot(transform[0, 0], transform[1, 0])
    rotation = math.degrees(math.atan2(transform[1, 0], transform[0, 0]))
    height, width = query.signature.shape[:2]
    valid, overlap = _coverage(candidate, (width, height), transform)
    plausible = abs(rotation) <= thresholds.max_rotation_deg and overlap >= thresholds.min_overlap
    colour = structure = float("inf")
    if plausible:
        colour = _colour_diff(query, candidate, transform, valid, thresholds.max_colour_diff)
    if plausible and colour <= thresholds.max_colour_diff:
        # A same-frame alignment was already polished by intensity matching; a feature-based one
        # can be off by a percent in scale, several pixels at the detail scale.
        structure = _structure_diff(query, candidate, transform, thresholds.max_structure_diff,
                                    refine=method != "frame")
    ratio = max(structure / thresholds.max_structure_diff, colour / thresholds.max_colour_diff)
    score = max(0.0, 1.0 - 0.5 * ratio) if plausible and math.isfinite(ratio) else 0.0
    return Verification(
        accepted=score >= 0.5, score=score, method=method, structure_diff=structure, colour_diff=colour,
        overlap=overlap, rotation_deg=rotation, scale=scale, inliers=inliers,
    )


def _closer(result: Verification, best: Verification | None) -> bool:
    if best is None:
        return True
    return (result.score, -result.colour_diff) > (best.score, -best.colour_diff)


def _inverse(matrix: np.ndarray) -> np.ndarray:
    return np.linalg.inv(_homogeneous(matrix))[:2]


def _moving_first(query: VerifyImage, candidate: VerifyImage) -> bool:
    """True when the query, not the candidate, should be warped onto the other picture.

    Warping interpolates and so softens a little: warping the crisper picture onto the softer one
    narrows their gap, while the other way round a sharpened copy looks further from its source
    than it is.
    """
    long_side = min(query.detail_side, candidate.detail_side)
    return query.edge_energy(long_side) > candidate.edge_energy(long_side)


def _seen_from_query(result: Verification) -> Verification:
    """Express a verification made with the roles swapped in the candidate→query direction."""
    return replace(result, rotation_deg=-result.rotation_deg, scale=1.0 / result.scale if result.scale else 0.0)


class VerificationStopped(Exception):
    """The caller no longer needs this verification's verdict (another candidate already decided)."""


def verify(query: VerifyImage, candidate: VerifyImage, thresholds: VerifyThresholds,
           stop: Callable[[], bool] | None = None) -> Verification:
    """Decide whether two pictures are the same.

    The crisper picture is warped onto the softer one. Alignments are tried cheapest first until
    one passes every check, or one fails the detail check by a wide margin. A near miss is checked
    once more the other way round on the same alignment: warping and filtering are not perfectly
    symmetric, and a genuinely changed region fails both ways. When `stop` turns true, the next
    step raises VerificationStopped instead of running: the caller has its answer elsewhere.
    """
    stop = stop or _never
    _check(stop)
    swapped = _moving_first(query, candidate)
    fixed, moving = (candidate, query) if swapped else (query, candidate)
    result, reversed_roles = _verify_directed(fixed, moving, thresholds, stop)
    return _seen_from_query(result) if swapped != reversed_roles else result


def _never() -> bool:
    return False


def _frame_corners(shape: tuple[int, ...], transform: np.ndarray) -> np.ndarray:
    """Where `transform` puts the four corners of a picture of `shape`."""
    height, width = shape[:2]
    return transform @ np.array([[0.0, width, 0.0, width], [0.0, 0.0, height, height], [1.0, 1.0, 1.0, 1.0]])


def _verify_directed(fixed: VerifyImage, moving: VerifyImage, thresholds: VerifyThresholds,
                     stop: Callable[[], bool]) -> tuple[Verification, bool]:
    """Verify by warping `moving` onto `fixed`; the flag says the answer came from the reverse check."""
    best: Verification | None = None
    clearly_different = _CLEARLY_DIFFERENT * thresholds.max_structure_diff
    judged: list[np.ndarray] = []
    for method, transform, inliers, confirmed in _hypotheses(fixed, moving, thresholds, stop):
        _check(stop)
        corners = _frame_corners(moving.signature.shape, transform)
        if any(float(np.abs(corners - seen).max()) < _SAME_ALIGNMENT_PX for seen in judged):
            continue
        judged.append(corners)
        result = _evaluate(fixed, moving, method, transform, inliers, thresholds)
        if result.accepted or (math.isfinite(result.structure_diff) and result.structure_diff > clearly_different):
            # Far over the limit even after the detail check refined the alignment: another
            # alignment will not turn a changed label into the same one. Near misses try the rest.
            return result, False
        if math.isfinite(result.structure_diff):
            _check(stop)
            reverse = _evaluate(moving, fixed, method, _inverse(transform), inliers, thresholds)
            if reverse.accepted:
                return reverse, True
        if _closer(result, best):
            best = result
        if confirmed:
            break
    if best is None:
        return Verification(False, 0.0, "none", float("inf"), float("inf"), 0.0, 0.0, 0.0, 0), False
    return best, False


def _check(stop: Callable[[], bool]) -> None:
    if stop():
        raise VerificationStopped


def warm_up() -> None:
    """Run one verification on a small synthetic pair: OpenCV's first calls carry one-off set-up costs."""
    rng = np.random.default_rng(0)
    grey = cv2.GaussianBlur(rng.integers(0, 255, (96, 80), dtype=np.uint8), (0, 0), 2.0)
    rgb = np.dstack([grey, grey, 255 - grey])
    image = VerifyImage(rgb, grey)
    verify(image, image, VerifyThresholds())
