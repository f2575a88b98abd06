"""HashIndex: exact multi-index Hamming search against a brute-force scan, updates, snapshots."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from processing import hash_index as index_module
from processing.fingerprint import to_signed64, to_unsigned64
from processing.hash_index import Candidate, CandidateIndex, HashIndex, load_or_build

ROWS = 50_000
PER_ROW = 4


def random_hashes(rng: np.random.Generator, rows: int) -> np.ndarray:
    """Uniform random 64-bit hashes, PER_ROW per row."""
    return rng.integers(0, 2**64, size=(rows, PER_ROW), dtype=np.uint64)


def flip(rng: np.random.Generator, value: int, bits: int, spread: bool = False) -> int:
    """`value` with exactly `bits` distinct bits flipped: random ones, or spaced evenly over all 64."""
    if spread:
        # Evenly spaced flips split the distance evenly over the substrings: the pigeonhole worst case.
        offset = int(rng.integers(0, 64))
        chosen = [(offset + (k * 64) // bits) % 64 for k in range(bits)] if bits else []
    else:
        chosen = [int(bit) for bit in rng.choice(64, size=bits, replace=False)]
    for bit in chosen:
        value ^= 1 << bit
    return value


def brute_force(hashes: np.ndarray, seqs: np.ndarray, query: list[int], radius: int) -> list[tuple[int, int]]:
    """(seq, min distance) of every row within `radius`, nearest first, by a plain scan."""
    flat = hashes.ravel()
    distances = np.full(flat.size, 255, dtype=np.uint8)
    for value in query:
        np.minimum(distances, np.bitwise_count(flat ^ np.uint64(to_unsigned64(value))), out=distances)
    per_row = distances.reshape(-1, hashes.shape[1]).min(axis=1)
    hits = np.flatnonzero(per_row <= radius)
    return sorted(((int(seqs[i]), int(per_row[i])) for i in hits), key=lambda item: (item[1], item[0]))


def as_pairs(candidates: list[Candidate]) -> list[tuple[int, int]]:
    """Candidates as (seq, distance) pairs."""
    return [(c.seq, c.distance) for c in candidates]


def planted_queries(rng: np.random.Generator, hashes: np.ndarray, radius: int, count: int) -> list[list[int]]:
    """Queries whose hashes sit at distances 0..radius+1 from an indexed row's hashes, or anywhere."""
    queries = []
    for number in range(count):
        row = hashes[int(rng.integers(0, hashes.shape[0]))]
        if number % 5 == 4:
            queries.append([int(v) for v in rng.integers(0, 2**64, size=PER_ROW, dtype=np.uint64)])
            continue
        distance = number % (radius + 2)  # 0..radius inside, radius + 1 just outside
        query = [int(v) for v in rng.integers(0, 2**64, size=PER_ROW, dtype=np.uint64)]
        stored = int(row[int(rng.integers(0, PER_ROW))])
        query[number % PER_ROW] = flip(rng, stored, distance, spread=(number // (radius + 2)) % 2 == 1)
        queries.append(query)
    return queries


@pytest.fixture(scope="module")
def corpus() -> tuple[np.ndarray, np.ndarray, HashIndex]:
    """50k random rows in a compacted index, sequence numbers with gaps."""
    rng = np.random.default_rng(20240601)
    hashes = random_hashes(rng, ROWS)
    seqs = np.arange(1, ROWS + 1, dtype=np.int64) * 3
    index = HashIndex()
    index.add_arrays(seqs, hashes)
    index.compact()
    return hashes, seqs, index


def force_probing(index: HashIndex, radius: int, radii: tuple[int, ...]) -> None:
    """Make the index probe its tables with `radii` (it would scan a small corpus at large radii)."""
    index._tables._plans[radius] = radii


@pytest.mark.parametrize("radius", [0, 7, 12, 16])
def test_search_equals_brute_force_scan(corpus: tuple[np.ndarray, np.ndarray, HashIndex], radius: int) -> None:
    hashes, seqs, index = corpus
    rng = np.random.default_rng(radius)
    for query in planted_queries(rng, hashes, radius, 60):
        assert as_pairs(index.search(query, radius, 10_000)) == brute_force(hashes, seqs, query, radius)


@pytest.mark.parametrize(
    ("radius", "radii"),
    [(0, (0, -1, -1)), (7, (2, 2, 1)), (7, (7, -1, -1)), (12, (4, 4, 2)), (12, (-1, 6, 5)), (16, (6, 5, 3))],
)
def test_every_pigeonhole_plan_is_exact(
    corpus: tuple[np.ndarray, np.ndarray, HashIndex], radius: int, radii: tuple[int, ...]
) -> None:
    hashes, seqs, _ = corpus
    index = HashIndex()
    index.add_arrays(seqs[:20_000], hashes[:20_000])
    index.compact()
    force_probing(index, radius, radii)
    rng = np.random.default_rng(radius + 100)
    for query in planted_queries(rng, hashes[:20_000], radius, 30):
        assert as_pairs(index.search(query, radius, 10_000)) == brute_force(
            hashes[:20_000], seqs[:20_000], query, radius
        )


def test_planner_always_satisfies_the_pigeonhole_bound(corpus: tuple[np.ndarray, np.ndarray, HashIndex]) -> None:
    _, _, index = corpus
    for radius in range(0, 21):
        radii = index._tables.plan(radius)
        if radii is not None:
            assert sum(r + 1 for r in radii) >= radius + 1


def test_probing_is_used_at_scale_for_radius_12() -> None:
    tables = index_module._Tables.empty(index_module.DEFAULT_SPLIT)
    tables.entries = 40_000_000
    radii = tables.plan(12)
    assert radii is not None
    assert sum(r + 1 for r in radii) == 13


def test_limit_and_ordering(corpus: tuple[np.ndarray, np.ndarray, HashIndex]) -> None:
    hashes, seqs, index = corpus
    query = [int(v) for v in hashes[123]]
    full = index.search(query, 16, 10_000)
    assert full[0] == Candidate(seq=int(seqs[123]), distance=0)
    keys = [(c.distance, c.seq) for c in full]
    assert keys == sorted(keys)
    assert len({c.seq for c in full}) == len(full)
    assert index.search(query, 16, 3) == full[:3]
    assert index.search(query, 16, 0) == []
    assert index.search(query, -1, 10) == []
    assert index.search([], 16, 10) == []


def test_distance_is_the_minimum_over_all_hash_pairs() -> None:
    rng = np.random.default_rng(3)
    base = [int(v) for v in rng.integers(0, 2**64, size=4, dtype=np.uint64)]
    index = HashIndex()
    # Row 10's hashes are 9, 5, 14 and 30 bits from query hashes 3, 1, 0 and 2.
    index.add([(10, (flip(rng, base[3], 9), flip(rng, base[1], 5), flip(rng, base[0], 14), flip(rng, base[2], 30)))])
    index.add([(11, (flip(rng, base[2], 11),))])
    assert as_pairs(index.search(base, 12, 10)) == [(10, 5), (11, 11)]
    assert as_pairs(index.search(base, 10, 10)) == [(10, 5)]
    assert as_pairs(index.search(base, 4, 10)) == []
    index.compact()
    assert as_pairs(index.search(base, 12, 10)) == [(10, 5), (11, 11)]
    assert as_pairs(index.search(base[:1], 14, 10)) == [(10, 14)]


def test_incremental_adds_before_and_after_compaction() -> None:
    rng = np.random.default_rng(11)
    hashes = random_hashes(rng, 6_000)
    seqs = np.arange(1, 6_001, dtype=np.int64)
    index = HashIndex(delta_limit=1_000)
    queries = planted_queries(rng, hashes, 10, 20)
    for start in range(0, 6_000, 1_500):
        stop = start + 1_500
        index.add(
            (int(s), tuple(to_signed64(int(v)) for v in row))
            for s, row in zip(seqs[start:stop], hashes[start:stop], strict=True)
        )
        assert index.watermark == stop
        for query in queries:
            assert as_pairs(index.search(query, 10, 10_000)) == brute_force(hashes[:stop], seqs[:stop], query, 10)
        index.compact()  # also waits for a merge the searches started in the background
        assert len(index) == stop * PER_ROW
        for query in queries:
            assert as_pairs(index.search(query, 10, 10_000)) == brute_force(hashes[:stop], seqs[:stop], query, 10)


def test_signed_and_unsigned_hashes_are_the_same_bits() -> None:
    top = (1 << 63) | 0x00FF_00FF_1234_5678
    index = HashIndex()
    index.add([(1, (to_signed64(top), -1, 0, 1 << 62))])
    for value in (top, to_signed64(top)):
        assert as_pairs(index.search([value], 0, 10)) == [(1, 0)]
    assert as_pairs(index.search([(1 << 64) - 1], 0, 10)) == [(1, 0)]  # stored as -1
    assert as_pairs(index.search([to_signed64(top ^ 0b101)], 2, 10)) == [(1, 2)]
    index.compact()
    assert as_pairs(index.search([to_signed64(top ^ 0b101)], 2, 10)) == [(1, 2)]
    arrays = HashIndex()
    arrays.add_arrays(np.array([1]), np.array([[to_signed64(top), -1]], dtype=np.int64))
    arrays.compact()
    assert as_pairs(arrays.search([top], 0, 10)) == [(1, 0)]
    assert as_pairs(arrays.search([-1], 0, 10)) == [(1, 0)]


def test_empty_index() -> None:
    index = HashIndex()
    assert len(index) == 0
    assert index.watermark == 0
    assert index.search([1, 2, 3, 4], 12, 10) == []
    index.compact()
    assert index.search([1, 2, 3, 4], 64, 10) == []
    index.add([])
    index.add([(7, ())])
    assert index.watermark == 7
    assert index.search([1], 64, 10) == []


def test_concurrent_adds_and_searches() -> None:
    rng = np.random.default_rng(5)
    hashes = random_hashes(rng, 8_000)
    seqs = np.arange(1, 8_001, dtype=np.int64)
    index = HashIndex(delta_limit=2_000)
    index.add_arrays(seqs[:2_000], hashes[:2_000])
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for start in range(2_000, 8_000, 250):
                index.add(
                    (int(s), tuple(int(v) for v in row))
                    for s, row in zip(seqs[start : start + 250], hashes[start : start + 250], strict=True)
                )
        except BaseException as error:
            errors.append(error)

    def reader(seed: int) -> None:
        local = np.random.default_rng(seed)
        try:
            for _ in range(150):
                row = int(local.integers(0, 2_000))
                hits = index.search([int(hashes[row, 1])], 12, 50)
                assert hits[0] == Candidate(seq=int(seqs[row]), distance=0)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=writer), *(threading.Thread(target=reader, args=(s,)) for s in (1, 2))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    index.compact()
    assert len(index) == 8_000 * PER_ROW
    assert index.watermark == 8_000
    for query in planted_queries(rng, hashes, 12, 15):
        assert as_pairs(index.search(query, 12, 10_000)) == brute_force(hashes, seqs, query, 12)


def test_snapshot_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    hashes = random_hashes(rng, 3_000)
    seqs = np.arange(1, 3_001, dtype=np.int64)
    index = HashIndex()
    index.add_arrays(seqs[:2_000], hashes[:2_000])
    index.compact()
    index.add_arrays(seqs[2_000:], hashes[2_000:])  # still in the delta when saved
    path = tmp_path / "index" / "hashes.npz"
    index.save(path, tag="sqlite:///a.db")
    assert [p.name for p in path.parent.iterdir()] == ["hashes.npz"]
    loaded = load_or_build(path, tag="sqlite:///a.db")
    assert loaded.watermark == 3_000
    assert len(loaded) == len(index)
    for query in planted_queries(rng, hashes, 12, 20):
        assert as_pairs(loaded.search(query, 12, 10_000)) == brute_force(hashes, seqs, query, 12)
    loaded.add([(3_001, (int(hashes[0, 0]),))])
    assert as_pairs(loaded.search([int(hashes[0, 0])], 0, 10)) == [(1, 0), (3_001, 0)]
    assert len(load_or_build(path, tag="postgresql://other")) == 0


def test_empty_snapshot_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "empty.npz"
    HashIndex().save(path)
    loaded = HashIndex.load(path)
    assert len(loaded) == 0
    assert loaded.search([5], 12, 10) == []


def test_unusable_snapshots_give_an_empty_index(tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    index = HashIndex()
    index.add_arrays(np.arange(1, 501), random_hashes(rng, 500))
    good = tmp_path / "good.npz"
    index.save(good)
    data = good.read_bytes()

    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(data[: len(data) // 2])
    flipped = tmp_path / "flipped.npz"
    middle = bytearray(data)
    middle[len(data) // 2] ^= 0xFF
    flipped.write_bytes(bytes(middle))
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a snapshot at all")
    for path in (truncated, flipped, garbage, tmp_path / "missing.npz"):
        with pytest.raises(ValueError, match="snapshot"):
            HashIndex.load(path)
        fallback = load_or_build(path)
        assert len(fallback) == 0
        assert fallback.watermark == 0


def test_a_snapshot_is_as_big_as_its_rows_and_refuses_tables_out_of_order(tmp_path: Path) -> None:
    rng = np.random.default_rng(10)
    index = HashIndex()
    index.add_arrays(np.arange(1, 1_001), random_hashes(rng, 1_000))
    index.compact()
    path = tmp_path / "small.npz"
    index.save(path)
    # the rows (about 150 KB here), not 32 MiB of bucket offsets: every test and fresh install writes one
    assert path.stat().st_size < 400_000
    assert len(HashIndex.load(path)) == len(index)
    with np.load(path) as data:
        arrays = {name: data[name] for name in data.files}
    hashes = arrays["hashes"].copy()
    hashes[0, [0, -1]] = hashes[0, [-1, 0]]  # the first and last entries of a table swapped
    with (tmp_path / "swapped.npz").open("wb") as handle:
        np.savez(handle, **(arrays | {"hashes": hashes}))
    with pytest.raises(ValueError, match="bucket order"):
        HashIndex.load(tmp_path / "swapped.npz")


def test_snapshot_from_another_format_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "old.npz"
    index = HashIndex()
    index.add([(1, (42,))])
    monkeypatch.setattr(index_module, "FORMAT_VERSION", index_module.FORMAT_VERSION + 1)
    index.save(path)
    monkeypatch.undo()
    with pytest.raises(ValueError, match="format version"):
        HashIndex.load(path)
    assert len(load_or_build(path)) == 0


def test_split_must_cover_64_bits() -> None:
    with pytest.raises(ValueError, match="64"):
        HashIndex(split=(16, 16, 16))
    index = HashIndex(split=(16, 16, 16, 16))
    index.add([(1, (12345,))])
    index.compact()
    assert as_pairs(index.search([12345 ^ 0b111], 3, 10)) == [(1, 3)]


def test_the_crop_lookup_finds_pairs_whose_only_close_hashes_are_their_deepest_crops() -> None:
    # Two degraded copies: whole pictures 20 bits apart, shallower crops far too, deepest crops 6.
    rng = np.random.default_rng(11)
    stored = [int(v) for v in rng.integers(0, 2**64, size=4, dtype=np.uint64)]
    query = [flip(rng, value, 20) for value in stored[:3]] + [flip(rng, stored[3], 6)]
    index = CandidateIndex()
    index.add_arrays(np.arange(1, 2001, dtype=np.int64), rng.integers(0, 2**64, size=(2000, 4), dtype=np.uint64))
    index.add([(5000, stored)])
    assert all(hit.seq != 5000 for hit in index.search(query, 8, 64))
    assert Candidate(seq=5000, distance=6) in index.search_crops(query, 8, 64)
    assert index.search_crops(query[:1], 8, 64) == []  # a whole-picture hash alone has no crop
