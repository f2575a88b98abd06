"""Is a copy strictly better than a master and otherwise the same picture? Pure pixel measures.

Merging tolerates edits (a reseller's badge, a watermark) because the copy still shows the product;
replacing a master must not: these checks are the stricter tier a copy passes before it becomes the
picture every listing shows. All comparisons are made like with like, at the smaller copy's size.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

# Calibrated on generated products (tests/security/test_trust.py): true downscales of one original at
# 1.25-10x keep at most 0.27 of the larger copy's detail; upscales of the smaller keep at least 0.36.
MAX_DETAIL_KEPT = 0.32
# A larger copy, brought down to the master's size, must be at least this sharp as the master.
MIN_SHARPNESS_AT_MASTER_SIZE = 0.5
# Largest block difference a same-content copy showed: 4.1 (detail) and 15.3 (signature); added
# text, a badge or a frame showed at least 69 and 99. A block beyond these is changed content.
MAX_DETAIL_BLOCK_DIFF = 16.0
MAX_SIGNATURE_BLOCK_DIFF = 32.0
SHARPNESS_SIDE = 512


def _fit(grey: np.ndarray, side: int) -> np.ndarray:
    height, width = grey.shape[:2]
    scale = side / max(height, width)
    if scale >= 1.0:
        return grey
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(grey, size, interpolation=cv2.INTER_AREA)


def _laplacian_variance(grey: np.ndarray) -> float:
    return float(cv2.Laplacian(grey.astype(np.float32), cv2.CV_32F).var())


def content_grey(image: Image.Image, box: tuple[int, int, int, int], side: int) -> np.ndarray:
    """The trimmed content as greyscale, at most `side` pixels on its long side."""
    content = image.crop(box)
    factor = max(1, max(content.size) // (2 * side))
    if factor > 1:
        content = content.reduce(factor)  # cheap first step for very large pictures
    return _fit(np.asarray(content.convert("L")), side)


def detail_kept(grey: np.ndarray, side: int) -> float:
    """Share of a picture's edge energy that survives a trip down to `side` and back up.

    Near 1 for an upscale of a `side`-sized picture (it never had more detail); low for a picture that
    really has detail beyond `side`. `grey` should be at about twice `side`.
    """
    small = _fit(grey, side)
    if small.shape == grey.shape:
        return 1.0
    back = cv2.resize(small, (grey.shape[1], grey.shape[0]), interpolation=cv2.INTER_CUBIC)
    return _laplacian_variance(back) / max(_laplacian_variance(grey), 1e-6)


def sharpness_at(grey: np.ndarray, side: int) -> float:
    """Variance of the Laplacian with the long side brought to `side`, as fingerprint.sharpness measures."""
    return _laplacian_variance(_fit(grey, side))


def block_difference(reference: np.ndarray, copy: np.ndarray, *, radius: int, block: int) -> float:
    """The largest mean difference over blocks where one picture shows something the other has nowhere near.

    The copy is brought to the reference's size; a pixel counts only by how far it lies outside the
    range of the other picture's pixels within `radius` (so a trim box a few pixels off costs nothing,
    while text, a logo or a frame that the other lacks shows in full).
    """
    copy = cv2.resize(copy, (reference.shape[1], reference.shape[0]), interpolation=cv2.INTER_AREA)
    first = cv2.GaussianBlur(reference.astype(np.float32), (0, 0), 0.8)
    second = cv2.GaussianBlur(copy.astype(np.float32), (0, 0), 0.8)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * radius + 1, 2 * radius + 1))

    def outside(values: np.ndarray, around: np.ndarray) -> np.ndarray:
        high, low = cv2.dilate(around, kernel), cv2.erode(around, kernel)
        return np.asarray(np.maximum(values - high, 0) + np.maximum(low - values, 0))

    difference = np.maximum(outside(first, second), outside(second, first))
    if difference.ndim == 3:
        difference = difference.max(axis=2)
    height, width = difference.shape
    blocks = cv2.resize(difference, (max(1, width // block), max(1, height // block)), interpolation=cv2.INTER_AREA)
    return float(blocks.max())


@dataclass(frozen=True)
class Fidelity:
    """How a candidate master compares with the current one."""

    detail_diff: float
    signature_diff: float

    @property
    def unchanged(self) -> bool:
        """True when no block of the picture differs beyond what resizing and recompression explain."""
        return self.detail_diff <= MAX_DETAIL_BLOCK_DIFF and self.signature_diff <= MAX_SIGNATURE_BLOCK_DIFF


def compare_content(master_detail: np.ndarray, copy_detail: np.ndarray, master_signature: np.ndarray,
                    copy_signature: np.ndarray) -> Fidelity:
    """Compare two verified copies block by block, at the master's size."""
    return Fidelity(
        detail_diff=block_difference(master_detail, copy_detail, radius=4, block=16),
        signature_diff=block_difference(master_signature, copy_signature, radius=2, block=8),
    )
