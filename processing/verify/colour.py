"""The colour check: block CIELAB differences of the aligned signatures, judged on a few rows first."""

from __future__ import annotations

import math

import cv2
import numpy as np

from processing.verify.alignment import _warp
from processing.verify.difference import _match_tones, _shift_tolerant, _window_max
from processing.verify.image import _COLOUR_BLUR, VerifyImage

_BLOCK = 16
# Rows (shares of the height) whose colour blocks are judged before the whole picture's.
_BANDS = (0.5, 0.25, 0.75)
# The banded and the full block means add the same values in another order: a bound must clear the
# limit by more than that rounding before it decides.
_BOUND_SLACK = 1e-3


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
