"""Image preparation: the stored verification PNGs decoded, and what each picture computes once for every pair."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from processing.caching import computed_once

_COLOUR_BLUR = 1.0
_ORB_FEATURES = 1500


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
