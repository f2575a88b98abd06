"""In-memory near-duplicate candidate index over 64-bit perceptual hashes.

Loaded from the fingerprints table and topped up incrementally by `seq`, so every API process
sees rows written by every other one, and a restart rebuilds it from the database.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from processing.fingerprint import to_unsigned64


@dataclass(frozen=True)
class Candidate:
    """One indexed fingerprint row within the search radius."""

    seq: int
    distance: int


class HashIndex:
    """Exact Hamming-radius search; several hashes (crop levels) per fingerprint row."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hashes = np.zeros(0, dtype=np.uint64)
        self._seqs = np.zeros(0, dtype=np.int64)
        self._pending_hashes: list[int] = []
        self._pending_seqs: list[int] = []
        self.watermark = 0

    def __len__(self) -> int:
        return int(self._hashes.size) + len(self._pending_hashes)

    def add(self, rows: Iterable[tuple[int, Sequence[int]]]) -> None:
        """Add (seq, hashes) rows; seqs must grow."""
        with self._lock:
            for seq, hashes in rows:
                for value in hashes:
                    self._pending_hashes.append(to_unsigned64(int(value)))
                    self._pending_seqs.append(int(seq))
                self.watermark = max(self.watermark, int(seq))
            if len(self._pending_hashes) >= 4096:
                self._compact()

    def _compact(self) -> None:
        if not self._pending_hashes:
            return
        self._hashes = np.concatenate([self._hashes, np.asarray(self._pending_hashes, dtype=np.uint64)])
        self._seqs = np.concatenate([self._seqs, np.asarray(self._pending_seqs, dtype=np.int64)])
        self._pending_hashes, self._pending_seqs = [], []

    def search(self, query: Sequence[int], radius: int, limit: int) -> list[Candidate]:
        """Rows with any hash within `radius` of any query hash, nearest first, at most `limit`."""
        with self._lock:
            self._compact()
            hashes, seqs = self._hashes, self._seqs
        if hashes.size == 0:
            return []
        best: dict[int, int] = {}
        for value in query:
            distances = np.bitwise_count(hashes ^ np.uint64(to_unsigned64(int(value))))
            hits = np.flatnonzero(distances <= radius)
            for position in hits:
                seq, distance = int(seqs[position]), int(distances[position])
                if distance < best.get(seq, radius + 1):
                    best[seq] = distance
        ranked = sorted(best.items(), key=lambda item: (item[1], item[0]))[:limit]
        return [Candidate(seq=seq, distance=distance) for seq, distance in ranked]
