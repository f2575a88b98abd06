"""The detail check: the largest windowed grey difference at the finer common detail scale."""

from __future__ import annotations

import cv2
import numpy as np

from processing.verify.alignment import _homogeneous, _refine, _valid_mask, _warp
from processing.verify.difference import _match_tones, _shift_tolerant, _window_max
from processing.verify.image import VerifyImage, fit_long_side

_HOPELESS = 5.0
_BASE_BLUR = 0.8
_EXTRA_BLURS = (0.7, 1.2, 1.8)
_SHARPENINGS = ((1.0, 0.6), (1.0, 1.2), (2.0, 0.6), (2.0, 1.2))


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
