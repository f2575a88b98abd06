"""In-memory near-duplicate candidate index over 64-bit perceptual hashes.

Exact multi-index hashing (Norouzi, Punjani and Fleet, "Fast exact search in Hamming space with
multi-index hashing", TPAMI 2014). The 64 bits are cut into substrings; every substring has its
own table holding every indexed hash, ordered by that substring's value, with a direct-addressed
bucket-offset array. A query probes, in each table t, every substring value within r_t bits of
its own, where sum(r_t + 1) >= radius + 1 (a table with r_t = -1 is skipped). A hash further
than r_t from the query in *every* table would be at least sum(r_t + 1) > radius bits away in
all, so each hash within `radius` turns up in some table (general pigeonhole principle). Every
candidate's full 64-bit hash is then checked with a popcount, so the answer is exact. The radii
per table are chosen per search radius by a cost model; where probing would cost more than a
linear scan (large radii, small indexes), the search scans instead.

Rows added since the last merge sit in a small unsorted delta that is scanned linearly. Once it
outgrows `delta_limit` hashes, the next search starts a background thread that merges it into
new sorted tables and swaps them in; searches meanwhile keep using the previous state.

Memory: 12 bytes per indexed hash per table (uint64 hash + uint32 row number), so with 3 tables
and 4 hashes per row 144 bytes per row, plus 8 bytes per row for its seq and 4 * (2**bits + 1)
bytes of bucket offsets per table (about 32 MiB in all): about 1.5 GiB for 10M rows.

Loaded from the fingerprints table and topped up incrementally by `seq`, so every API process
sees rows written by every other one. `save` writes a snapshot and `load_or_build` reads one
back, so a restart only tops up the rows written since the snapshot. A snapshot holds the rows,
not the bucket offsets (32 MiB whatever the row count; one pass over each table rebuilds them).
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import product
from math import comb
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

FORMAT_VERSION = 2  # 2: bucket offsets are rebuilt on load, not stored
HASH_BITS = 64
# Substring widths, lowest bits first. Three tables of 21/21/22 bits measured fastest on 40M
# uniform random hashes at radius 12 (docs/dedup-index.md): four of 16 bits check 4.6x the
# candidates and ran 3x slower; two of 32 bits would need 2**32-entry offset arrays.
DEFAULT_SPLIT: tuple[int, ...] = (21, 21, 22)
DEFAULT_DELTA_LIMIT = 32_768
_MASK64 = (1 << 64) - 1
_SLICE_COPY_LIMIT = 200_000
# Measured per-item costs in seconds at 40M hashes (2 vCPU): one bucket probe (offset lookups
# and the cache misses of reaching a bucket), one candidate gathered and checked, one hash
# scanned linearly. Only their ratios matter: they pick the probe radii per table.
_PROBE_COST = 40e-9
_CANDIDATE_COST = 15e-9
_SCAN_COST = 1.3e-9


@dataclass(frozen=True)
class Candidate:
    """One indexed fingerprint row within the search radius."""

    seq: int
    distance: int


def _as_unsigned(values: Iterable[int]) -> np.ndarray:
    # Masking maps both signed BIGINT values and unsigned ones onto the same 64-bit pattern.
    return np.fromiter((int(v) & _MASK64 for v in values), dtype=np.uint64)


@lru_cache(maxsize=64)
def _flip_masks(bits: int, radius: int) -> np.ndarray:
    """All `bits`-wide values with at most `radius` bits set."""
    values = np.arange(1 << bits, dtype=np.uint32)
    masks = values[np.bitwise_count(values) <= radius]
    masks.setflags(write=False)
    return masks


def _ball(bits: int, radius: int) -> int:
    return sum(comb(bits, i) for i in range(min(radius, bits) + 1))


class _Tables:
    """The sorted, immutable part of the index."""

    def __init__(
        self,
        split: tuple[int, ...],
        seqs: np.ndarray,
        hashes: np.ndarray,
        rows: np.ndarray,
        offsets: list[np.ndarray],
    ) -> None:
        self.split = split
        self.shifts = tuple(int(s) for s in np.cumsum((0, *split[:-1])))
        self.seqs = seqs  # int64, one per row
        self.hashes = hashes  # uint64 (tables, entries), each table in its substring order
        self.rows = rows  # uint32 (tables, entries), row number of each hash
        self.offsets = offsets  # uint32 (2**bits + 1,) bucket starts per table
        self.entries = int(hashes.shape[1])
        self._plans: dict[int, tuple[int, ...] | None] = {}

    @classmethod
    def empty(cls, split: tuple[int, ...]) -> _Tables:
        """A table set with no rows."""
        return cls(
            split,
            np.zeros(0, dtype=np.int64),
            np.zeros((len(split), 0), dtype=np.uint64),
            np.zeros((len(split), 0), dtype=np.uint32),
            [np.zeros((1 << bits) + 1, dtype=np.uint32) for bits in split],
        )

    def nbytes(self) -> int:
        """Bytes held by the numpy arrays."""
        return int(self.seqs.nbytes + self.hashes.nbytes + self.rows.nbytes + sum(o.nbytes for o in self.offsets))

    def keys(self, table: int, hashes: np.ndarray) -> np.ndarray:
        """Substring values of `hashes` for one table."""
        bits = self.split[table]
        return ((hashes >> np.uint64(self.shifts[table])) & np.uint64((1 << bits) - 1)).astype(np.uint32)

    def plan(self, radius: int) -> tuple[int, ...] | None:
        """Per-table probe radii (-1 = skip) for `radius`, or None when a scan is cheaper."""
        if radius in self._plans:
            return self._plans[radius]
        best: tuple[int, ...] | None = None
        best_cost = _SCAN_COST * self.entries
        ranges = [range(-1, min(bits, radius) + 1) for bits in self.split]
        for radii in product(*ranges):
            if sum(r + 1 for r in radii) < radius + 1:
                continue
            cost = 0.0
            for bits, r in zip(self.split, radii, strict=True):
                if r >= 0:
                    ball = _ball(bits, r)
                    cost += _PROBE_COST * ball + _CANDIDATE_COST * self.entries * ball / (1 << bits)
            if cost < best_cost:
                best, best_cost = radii, cost
        self._plans[radius] = best
        return best

    def search(self, query: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray]:
        """Row numbers and distances of indexed hashes within `radius` of any query hash (repeats)."""
        if self.entries == 0 or query.size == 0:
            return np.zeros(0, dtype=np.uint32), np.zeros(0, dtype=np.uint8)
        radii = self.plan(radius)
        if radii is None:
            return self._scan(query, radius)
        starts_parts: list[np.ndarray] = []
        ends_parts: list[np.ndarray] = []
        for table, r in enumerate(radii):
            if r < 0:
                continue
            masks = _flip_masks(self.split[table], r)
            keys = self.keys(table, query)[:, None] ^ masks[None, :]
            offsets = self.offsets[table]
            base = table * self.entries
            starts_parts.append(offsets[keys].astype(np.int64) + base)
            ends_parts.append(offsets[keys + 1].astype(np.int64) + base)
        # One row of probes per query hash, so each query hash's candidates form one run.
        starts = np.concatenate(starts_parts, axis=1)
        lengths = np.concatenate(ends_parts, axis=1) - starts
        per_query = np.cumsum(lengths.sum(axis=1))
        total = int(per_query[-1])
        if total == 0:
            return np.zeros(0, dtype=np.uint32), np.zeros(0, dtype=np.uint8)
        starts, lengths = starts.ravel(), lengths.ravel()
        # Flat positions of every candidate: each probe's bucket as one run of consecutive indices.
        ends_in_output = np.cumsum(lengths)
        positions = np.repeat(starts - (ends_in_output - lengths), lengths)
        positions += np.arange(total, dtype=np.int64)
        found = self.hashes.ravel()[positions]
        begin = 0
        for value, end in zip(query, per_query.tolist(), strict=True):
            np.bitwise_xor(found[begin:end], value, out=found[begin:end])
            begin = end
        distances = np.bitwise_count(found)
        hits = np.flatnonzero(distances <= radius)
        return self.rows.ravel()[positions[hits]], distances[hits]

    def _scan(self, query: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray]:
        hashes = self.hashes[0]
        rows_parts, dist_parts = [], []
        for value in query:
            distances = np.bitwise_count(hashes ^ value)
            hits = np.flatnonzero(distances <= radius)
            rows_parts.append(self.rows[0][hits])
            dist_parts.append(distances[hits])
        return np.concatenate(rows_parts), np.concatenate(dist_parts)

    def merged(self, seqs: np.ndarray, hashes: np.ndarray) -> _Tables:
        """A new table set with extra entries (`seqs` per entry, equal seqs adjacent = one row)."""
        if hashes.size == 0:
            return self
        new_row = np.empty(seqs.size, dtype=bool)
        new_row[0] = True
        np.not_equal(seqs[1:], seqs[:-1], out=new_row[1:])
        entry_rows = (np.cumsum(new_row) - 1 + self.seqs.size).astype(np.uint32)
        all_seqs = np.concatenate([self.seqs, seqs[new_row]])
        count = self.entries + hashes.size
        out_hashes = np.empty((len(self.split), count), dtype=np.uint64)
        out_rows = np.empty((len(self.split), count), dtype=np.uint32)
        out_offsets = []
        for table, bits in enumerate(self.split):
            keys = self.keys(table, hashes)
            order = np.argsort(keys)
            keys = keys[order]
            offsets = self.offsets[table]
            # New entries go to the end of their bucket, after the old ones.
            insert_at = offsets[keys + 1].astype(np.int64)
            target = insert_at + np.arange(hashes.size)
            _spread([(self.hashes[table], out_hashes[table]), (self.rows[table], out_rows[table])], insert_at)
            out_hashes[table, target] = hashes[order]
            out_rows[table, target] = entry_rows[order]
            out_offsets.append((offsets + _bucket_starts(keys, bits)).astype(np.uint32))
        return _Tables(self.split, all_seqs, out_hashes, out_rows, out_offsets)


def _spread(pairs: list[tuple[np.ndarray, np.ndarray]], insert_at: np.ndarray) -> None:
    """Copy each old array into its out array, leaving a gap before old[i] per entry inserted at i."""
    points, counts = np.unique(insert_at, return_counts=True)
    size = pairs[0][0].size
    if points.size > _SLICE_COPY_LIMIT:
        # Bulk loads: one scatter beats a long Python loop of slice copies.
        shift = np.zeros(size + 1, dtype=np.int64)
        shift[points] = counts
        np.cumsum(shift, out=shift)
        shift[:size] += np.arange(size)
        for old, out in pairs:
            out[shift[:size]] = old
        return
    # Few gaps: slice copies need no index arrays as large as the table.
    done, gap = 0, 0
    for point, count in zip(points.tolist(), counts.tolist(), strict=True):
        for old, out in pairs:
            out[done + gap : point + gap] = old[done:point]
        done, gap = point, gap + count
    for old, out in pairs:
        out[done + gap : size + gap] = old[done:]


class HashIndex:
    """Exact Hamming-radius search; several hashes (crop levels) per fingerprint row."""

    def __init__(self, split: tuple[int, ...] = DEFAULT_SPLIT, delta_limit: int = DEFAULT_DELTA_LIMIT) -> None:
        if sum(split) != HASH_BITS or any(not 1 <= bits <= 24 for bits in split):
            raise ValueError(f"split {split} must be widths of 1..24 bits adding up to 64")
        self._lock = threading.Lock()
        self._merge_lock = threading.Lock()
        self._tables = _Tables.empty(tuple(split))
        self._delta_limit = delta_limit
        # Unmerged rows: chunks of (seq per hash, hash) in arrival order, plus their concatenation.
        self._delta: list[tuple[np.ndarray, np.ndarray]] = []
        self._delta_cache: tuple[np.ndarray, np.ndarray] | None = None
        self._delta_size = 0
        self.watermark = 0

    def __len__(self) -> int:
        with self._lock:
            return int(self._tables.entries) + self._delta_size

    @property
    def split(self) -> tuple[int, ...]:
        """Substring widths of the tables."""
        return self._tables.split

    def nbytes(self) -> int:
        """Bytes held by the index's numpy arrays."""
        with self._lock:
            return self._tables.nbytes() + sum(s.nbytes + h.nbytes for s, h in self._delta)

    def add(self, rows: Iterable[tuple[int, Sequence[int]]]) -> None:
        """Add (seq, hashes) rows; seqs must grow."""
        seqs: list[int] = []
        values: list[int] = []
        top = 0
        for seq, hashes in rows:
            top = max(top, int(seq))
            for value in hashes:
                seqs.append(int(seq))
                values.append(int(value) & _MASK64)
        self._append(np.asarray(seqs, dtype=np.int64), np.asarray(values, dtype=np.uint64), top)

    def add_arrays(self, seqs: np.ndarray, hashes: np.ndarray) -> None:
        """Add rows from arrays: seqs (n,) and hashes (n, k), signed or unsigned 64-bit."""
        hashes = np.asarray(hashes)
        if hashes.ndim != 2 or hashes.shape[0] != len(seqs):
            raise ValueError("hashes must have one row of hashes per seq")
        entry_seqs = np.repeat(np.asarray(seqs, dtype=np.int64), hashes.shape[1])
        top = int(np.max(seqs)) if len(seqs) else 0
        self._append(entry_seqs, hashes.astype(np.uint64, copy=False).ravel(), top)

    def _append(self, seqs: np.ndarray, hashes: np.ndarray, top: int) -> None:
        with self._lock:
            if hashes.size:
                self._delta.append((seqs, hashes))
                self._delta_cache = None
                self._delta_size += int(hashes.size)
            self.watermark = max(self.watermark, top)

    def compact(self) -> None:
        """Merge every unmerged row into the sorted tables now."""
        with self._merge_lock:
            self._merge()

    def _merge(self) -> None:
        with self._lock:
            tables, chunks = self._tables, list(self._delta)
        if not chunks:
            return
        seqs = np.concatenate([s for s, _ in chunks])
        hashes = np.concatenate([h for _, h in chunks])
        merged = tables.merged(seqs, hashes)
        with self._lock:
            # Rows added while merging stay in the delta.
            self._delta = self._delta[len(chunks) :]
            self._delta_cache = None
            self._delta_size -= int(hashes.size)
            self._tables = merged

    def _merge_in_background(self) -> None:
        try:
            self._merge()
        except Exception:
            log.exception("merging the hash index failed; its rows stay in the unsorted delta")
        finally:
            self._merge_lock.release()

    def _delta_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if self._delta_cache is None:
            if self._delta:
                self._delta_cache = (
                    np.concatenate([s for s, _ in self._delta]),
                    np.concatenate([h for _, h in self._delta]),
                )
            else:
                self._delta_cache = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint64))
        return self._delta_cache

    def search(self, query: Sequence[int], radius: int, limit: int) -> list[Candidate]:
        """Rows with any hash within `radius` of any query hash, nearest first, at most `limit`."""
        values = np.unique(_as_unsigned(query))
        if limit <= 0 or radius < 0 or values.size == 0:
            return []
        if self._delta_size > self._delta_limit and self._merge_lock.acquire(blocking=False):
            # Merging costs a copy of every table (~0.3 s at 10M rows): off the request path.
            try:
                threading.Thread(target=self._merge_in_background, name="hash-index-merge", daemon=True).start()
            except RuntimeError:  # interpreter shutting down
                self._merge_lock.release()
        with self._lock:
            tables = self._tables
            delta_seqs, delta_hashes = self._delta_arrays()
        rows, distances = tables.search(values, radius)
        seqs = tables.seqs[rows]
        if delta_hashes.size:
            delta_distances = np.bitwise_count(delta_hashes ^ values[0])
            for value in values[1:]:
                np.minimum(delta_distances, np.bitwise_count(delta_hashes ^ value), out=delta_distances)
            hits = np.flatnonzero(delta_distances <= radius)
            seqs = np.concatenate([seqs, delta_seqs[hits]])
            distances = np.concatenate([distances, delta_distances[hits]])
        if seqs.size == 0:
            return []
        # Nearest hash per row, then rows nearest first (ties by seq).
        order = np.lexsort((distances, seqs))
        seqs, distances = seqs[order], distances[order]
        first = np.ones(seqs.size, dtype=bool)
        np.not_equal(seqs[1:], seqs[:-1], out=first[1:])
        seqs, distances = seqs[first], distances[first]
        ranked = np.lexsort((seqs, distances))[:limit]
        return [Candidate(seq=int(seqs[i]), distance=int(distances[i])) for i in ranked]

    def save(self, path: str | os.PathLike[str], tag: str = "") -> None:
        """Write a snapshot (all rows and the watermark) atomically to `path`; `tag` names its source."""
        with self._lock:
            tables = self._tables
            delta_seqs, delta_hashes = self._delta_arrays()
            watermark = self.watermark
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {
            "meta": np.array([FORMAT_VERSION, watermark, len(tables.split)], dtype=np.int64),
            "split": np.array(tables.split, dtype=np.int64),
            "tag": np.frombuffer(tag.encode(), dtype=np.uint8),
            "seqs": tables.seqs,
            "hashes": tables.hashes,
            "rows": tables.rows,
            "delta_seqs": delta_seqs,
            "delta_hashes": delta_hashes,
        }
        fd, temp = tempfile.mkstemp(prefix=target.name + ".", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                np.savez(handle, allow_pickle=False, **arrays)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: str | os.PathLike[str], tag: str = "", delta_limit: int = DEFAULT_DELTA_LIMIT) -> HashIndex:
        """Read a snapshot written by `save` with the same `tag`; raises ValueError if unusable."""
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = data["meta"]
                if meta.shape != (3,) or int(meta[0]) != FORMAT_VERSION:
                    raise ValueError("snapshot from another format version")
                if data["tag"].tobytes() != tag.encode():
                    raise ValueError("snapshot of another database")
                split = tuple(int(b) for b in data["split"])
                if len(split) != int(meta[2]):
                    raise ValueError("snapshot header and tables disagree")
                index = cls(split=split, delta_limit=delta_limit)
                hashes = data["hashes"]
                if hashes.dtype != np.uint64 or hashes.ndim != 2 or hashes.shape[0] != len(split):
                    raise ValueError("index snapshot hashes have the wrong shape or type")
                tables = _Tables(split, data["seqs"], hashes, data["rows"], [])
                tables.offsets = [_bucket_offsets(tables.keys(t, hashes[t]), bits) for t, bits in enumerate(split)]
                delta_seqs, delta_hashes = data["delta_seqs"], data["delta_hashes"]
        except Exception as error:
            # Truncated or overwritten files fail in zipfile, zlib or numpy's header parser alike.
            raise ValueError(f"unusable index snapshot {path}: {error}") from error
        _check(tables, delta_seqs, delta_hashes)
        index._tables = tables
        if delta_hashes.size:
            index._append(delta_seqs, delta_hashes, 0)
        index.watermark = int(meta[1])
        return index


def _check(tables: _Tables, delta_seqs: np.ndarray, delta_hashes: np.ndarray) -> None:
    """Raise ValueError unless the arrays are consistent (cheap checks, not a full re-sort)."""
    count = len(tables.split)
    entries = tables.entries
    ok = (
        tables.seqs.dtype == np.int64
        and tables.seqs.ndim == 1
        and tables.hashes.dtype == np.uint64
        and tables.hashes.shape == (count, entries)
        and tables.rows.dtype == np.uint32
        and tables.rows.shape == (count, entries)
        and delta_seqs.dtype == np.int64
        and delta_hashes.dtype == np.uint64
        and delta_seqs.shape == delta_hashes.shape
        and delta_hashes.ndim == 1
    )
    if not ok:
        raise ValueError("index snapshot arrays have the wrong shapes or types")
    for table, offsets in enumerate(tables.offsets):
        bits = tables.split[table]
        if (
            offsets.dtype != np.uint32
            or offsets.shape != ((1 << bits) + 1,)
            or int(offsets[0]) != 0
            or int(offsets[-1]) != entries
            or bool(np.any(offsets[1:] < offsets[:-1]))
        ):
            raise ValueError("index snapshot bucket offsets are inconsistent")
    if entries and int(tables.rows.max()) >= tables.seqs.size:
        raise ValueError("index snapshot row numbers point past its rows")


def _bucket_starts(keys: np.ndarray, bits: int) -> np.ndarray:
    """Where each bucket would start if entries with these keys were laid out by bucket (int64, 2**bits + 1)."""
    starts = np.zeros((1 << bits) + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys, minlength=1 << bits), out=starts[1:])
    return starts


def _bucket_offsets(keys: np.ndarray, bits: int) -> np.ndarray:
    """Where each bucket starts in a table sorted by bucket (its keys in order)."""
    if keys.size and bool(np.any(keys[1:] < keys[:-1])):
        raise ValueError("index snapshot table is not in bucket order")
    return _bucket_starts(keys, bits).astype(np.uint32)


def load_or_build(path: str | os.PathLike[str], tag: str = "", delta_limit: int = DEFAULT_DELTA_LIMIT) -> HashIndex:
    """The snapshot at `path` if usable, else an empty index; top it up from the database by seq."""
    try:
        return HashIndex.load(path, tag=tag, delta_limit=delta_limit)
    except ValueError as error:
        if Path(path).exists():
            log.warning("ignoring index snapshot: %s", error)
        return HashIndex(delta_limit=delta_limit)


class CandidateIndex:
    """The dedup candidate index: every crop hash of every picture, and whole-picture hashes alone.

    A query's whole-picture hash is looked up among all stored crop hashes (the query is a crop of
    a stored picture); its crop hashes only among stored whole-picture hashes (a stored picture is
    a crop of the query). Skipping crop-against-crop pairs cuts the work per lookup by more than
    half; they matter only between two degraded copies whose whole-picture hashes drifted apart
    (docs/dedup-index.md), which `search_crops` looks up when `search` found no copy.
    """

    def __init__(self, every: HashIndex | None = None, whole: HashIndex | None = None) -> None:
        self.every = every if every is not None else HashIndex()
        self.whole = whole if whole is not None else HashIndex()

    def __len__(self) -> int:
        return len(self.every)

    @property
    def watermark(self) -> int:
        """The newest fingerprint seq both indexes hold."""
        return min(self.every.watermark, self.whole.watermark)

    def nbytes(self) -> int:
        """Bytes held by both indexes' numpy arrays."""
        return self.every.nbytes() + self.whole.nbytes()

    def add(self, rows: Iterable[tuple[int, Sequence[int]]]) -> None:
        """Add (seq, hashes) rows; the first hash of each row is the whole picture's."""
        materialised = [(int(seq), list(hashes)) for seq, hashes in rows]
        self.every.add(materialised)
        self.whole.add((seq, hashes[:1]) for seq, hashes in materialised)

    def add_arrays(self, seqs: np.ndarray, hashes: np.ndarray) -> None:
        """Add rows from arrays: seqs (n,) and hashes (n, k) with the whole-picture hash first."""
        hashes = np.asarray(hashes)
        self.every.add_arrays(seqs, hashes)
        self.whole.add_arrays(seqs, hashes[:, :1])

    def compact(self) -> None:
        """Merge pending rows into both indexes' tables."""
        self.every.compact()
        self.whole.compact()

    def search(self, query: Sequence[int], radius: int, limit: int) -> list[Candidate]:
        """Rows within `radius` (whole↔any crop, any crop↔whole), nearest first, at most `limit`."""
        if not query:
            return []
        best: dict[int, int] = {}
        found = self.every.search(query[:1], radius, limit)
        if len(query) > 1:
            found += self.whole.search(query[1:], radius, limit)
        for candidate in found:
            if candidate.distance < best.get(candidate.seq, radius + 1):
                best[candidate.seq] = candidate.distance
        ranked = sorted(best.items(), key=lambda item: (item[1], item[0]))[:limit]
        return [Candidate(seq=seq, distance=distance) for seq, distance in ranked]

    def search_crops(self, query: Sequence[int], radius: int, limit: int) -> list[Candidate]:
        """Rows with any hash within `radius` of the query's deepest centre crop: pairs `search` skips.

        Heavy compression damages two copies' whole-picture hashes differently while their centre
        still agrees; on the shared corpus every such pair was found by the deepest crop alone (as
        by all three crops), at about half the cost of `search`.
        """
        return self.every.search(query[-1:], radius, limit) if len(query) > 1 else []

    def save(self, path: str | os.PathLike[str], tag: str = "") -> None:
        """Snapshot both indexes next to `path`."""
        base = Path(path)
        self.every.save(base.with_name(base.stem + ".every.npz"), tag=tag)
        self.whole.save(base.with_name(base.stem + ".whole.npz"), tag=tag)

    @classmethod
    def load_or_build(cls, path: str | os.PathLike[str], tag: str = "") -> CandidateIndex:
        """Both snapshots if usable (and consistent), else empty indexes topped up from the database."""
        base = Path(path)
        every = load_or_build(base.with_name(base.stem + ".every.npz"), tag=tag)
        whole = load_or_build(base.with_name(base.stem + ".whole.npz"), tag=tag)
        if every.watermark != whole.watermark:
            return cls()
        return cls(every, whole)
