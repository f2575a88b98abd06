"""Alignment: the candidate→query transforms to try (same frame polished by ECC, ORB features), and warping."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import cv2
import numpy as np

from processing.verify.image import VerifyImage
from processing.verify.outcome import VerifyThresholds, _check

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


def _coverage(candidate: VerifyImage, size: tuple[int, int], matrix: np.ndarray) -> tuple[np.ndarray, float]:
    """Where the warped candidate covers the query's signature, and the overlap: the smaller of the
    covered share of the query and the share of the candidate that lands inside it."""
    valid = _valid_mask(candidate.signature.shape, matrix, size)
    cand_area = candidate.signature.shape[0] * candidate.signature.shape[1] * abs(np.linalg.det(matrix[:, :2]))
    return valid, min(float(valid.mean()), float(valid.sum()) / max(1.0, cand_area))


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


def _inverse(matrix: np.ndarray) -> np.ndarray:
    return np.linalg.inv(_homogeneous(matrix))[:2]


def _frame_corners(shape: tuple[int, ...], transform: np.ndarray) -> np.ndarray:
    """Where `transform` puts the four corners of a picture of `shape`."""
    height, width = shape[:2]
    return transform @ np.array([[0.0, width, 0.0, width], [0.0, 0.0, height, height], [1.0, 1.0, 1.0, 1.0]])
