"""Comparison primitives both checks share: shift-tolerant differences, tone matching, window maxima."""

from __future__ import annotations

import cv2
import numpy as np

_CLIPPED = 250.0
_HIGHLIGHT = 220.0
_NEIGHBOURS = np.ones((3, 3), np.uint8)
_SUM_CHANNELS = np.ones((1, 3), np.float32)


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
