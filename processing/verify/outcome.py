"""What verification takes and gives: the limits, the outcome, and the signal to stop early."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass


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


class VerificationStopped(Exception):
    """The caller no longer needs this verification's verdict (another candidate already decided)."""


def _check(stop: Callable[[], bool]) -> None:
    if stop():
        raise VerificationStopped
