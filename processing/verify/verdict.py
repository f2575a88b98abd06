"""The verdict: which picture moves, which alignments are judged, and whether the pair is the same picture."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import cv2
import numpy as np

from processing.verify.alignment import _coverage, _frame_corners, _hypotheses, _inverse
from processing.verify.colour import _colour_diff
from processing.verify.detail import _structure_diff
from processing.verify.image import VerifyImage
from processing.verify.outcome import Verification, VerifyThresholds, _check

_CLEARLY_DIFFERENT = 2.5
# Alignments whose frame corners lie this close (signature pixels) see the same picture: the colour
# check forgives a one-pixel shift, so judging the second one again cannot change the verdict.
_SAME_ALIGNMENT_PX = 0.5


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


def warm_up() -> None:
    """Run one verification on a small synthetic pair: OpenCV's first calls carry one-off set-up costs."""
    rng = np.random.default_rng(0)
    grey = cv2.GaussianBlur(rng.integers(0, 255, (96, 80), dtype=np.uint8), (0, 0), 2.0)
    rgb = np.dstack([grey, grey, 255 - grey])
    image = VerifyImage(rgb, grey)
    verify(image, image, VerifyThresholds())
