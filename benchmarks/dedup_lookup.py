"""Near-duplicate candidate lookup at scale: the production CandidateIndex against a plain numpy scan.

Builds the index on synthetic uniform random 64-bit hashes (4 per row, like the whole-picture and
3 crop-level phashes of a fingerprint), half the queries being near-duplicates of an indexed row
(every query hash within the radius of the row's hash), the other half unrelated. The linear scan
computes the same answer (query whole hash against every stored hash, query crop hashes against
stored whole hashes) by brute force. `--structure single` measures one HashIndex over all 16 pairs.

    .venv/bin/python benchmarks/dedup_lookup.py --rows 10000000 --queries 2000 --radius 8
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from processing.hash_index import DEFAULT_SPLIT, CandidateIndex, HashIndex

HASHES_PER_ROW = 4


def rss_bytes() -> int:
    """Current resident set size of this process."""
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * resource.getpagesize()
    except OSError:
        return 0


def peak_rss_bytes() -> int:
    """Peak resident set size of this process."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def near(rng: np.random.Generator, hashes: np.ndarray, radius: int) -> np.ndarray:
    """Copies of `hashes` with 0..radius random bits flipped in each."""
    out = hashes.copy()
    for i in range(out.size):
        flips = rng.choice(64, size=int(rng.integers(0, radius + 1)), replace=False)
        for bit in flips:
            out[i] ^= np.uint64(1) << np.uint64(int(bit))
    return out


def linear_scan(flat: np.ndarray, seqs: np.ndarray, query: np.ndarray, radius: int,
                single: bool = False) -> dict[int, int]:
    """Plain numpy scan: XOR-popcount stored hashes against query hashes, the index's pairs only."""
    found: dict[int, int] = {}
    whole = flat[::HASHES_PER_ROW]
    for number, value in enumerate(query):
        against_all = single or number == 0
        distances = np.bitwise_count((flat if against_all else whole) ^ value)
        hits = np.flatnonzero(distances <= radius)
        rows = hits // HASHES_PER_ROW if against_all else hits
        for seq, distance in zip(seqs[rows].tolist(), distances[hits].tolist(), strict=True):
            found[seq] = min(found.get(seq, 255), distance)
    return found


def percentiles(samples: list[float]) -> str:
    """p50/p95/p99/max of latencies in seconds, as milliseconds."""
    values = np.array(samples) * 1000
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return f"{p50:8.3f} {p95:8.3f} {p99:8.3f} {values.max():8.3f}"


def main() -> None:
    """Build, measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--radius", type=int, default=8)
    parser.add_argument("--scan-queries", type=int, default=20, help="queries for the slow linear scan")
    parser.add_argument("--split", default=",".join(map(str, DEFAULT_SPLIT)), help="substring widths")
    parser.add_argument("--delta", type=int, default=2000, help="unmerged rows left in the delta")
    parser.add_argument("--sweep", default="6,10,12", help="other radii to time on the same index")
    parser.add_argument("--no-snapshot", action="store_true", help="skip timing save/load")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--structure", choices=["candidate", "single"], default="candidate")
    args = parser.parse_args()
    split = tuple(int(part) for part in args.split.split(","))
    rng = np.random.default_rng(args.seed)
    radius = args.radius

    print(f"rows {args.rows:,}  hashes {args.rows * HASHES_PER_ROW:,}  radius {radius}  split {split}  "
          f"structure {args.structure}")
    hashes = rng.integers(0, 2**64, size=(args.rows, HASHES_PER_ROW), dtype=np.uint64)
    seqs = np.arange(1, args.rows + 1, dtype=np.int64)
    rss_before = rss_bytes()

    single = args.structure == "single"
    index: HashIndex | CandidateIndex = HashIndex(split=split) if single else CandidateIndex(
        HashIndex(split=split), HashIndex(split=split))
    started = time.perf_counter()
    merged_rows = args.rows - args.delta
    index.add_arrays(seqs[:merged_rows], hashes[:merged_rows])
    index.compact()
    build_seconds = time.perf_counter() - started
    # Steady state: the latest rows wait in the unsorted delta until the next merge.
    index.add_arrays(seqs[merged_rows:], hashes[merged_rows:])
    gc.collect()
    index_bytes = index.nbytes()
    rss_index = rss_bytes() - rss_before

    planted = rng.integers(0, args.rows, size=args.queries)
    queries = []
    for number, row in enumerate(planted):
        if number % 2 == 0:
            queries.append(near(rng, hashes[row], radius))
        else:
            queries.append(rng.integers(0, 2**64, size=HASHES_PER_ROW, dtype=np.uint64))
    query_lists = [[int(v) for v in query] for query in queries]

    index.search(query_lists[0], radius, 32)  # plan and flip masks cached, as in a warm process
    latencies: list[float] = []
    cpu_times: list[float] = []
    found_planted = 0
    for number, query in enumerate(query_lists):
        started, cpu_started = time.perf_counter(), time.thread_time()
        hits = index.search(query, radius, 32)
        latencies.append(time.perf_counter() - started)
        cpu_times.append(time.thread_time() - cpu_started)
        if number % 2 == 0 and any(hit.seq == int(seqs[planted[number]]) for hit in hits):
            found_planted += 1

    # An upload whose candidates include no verified copy looks up its deepest crop as well.
    crop_latencies: list[float] = []
    both_latencies: list[float] = []
    if isinstance(index, CandidateIndex):  # one HashIndex has no crop lookup
        for number, query in enumerate(query_lists):
            started = time.perf_counter()
            index.search_crops(query, radius, 32)
            crop_latencies.append(time.perf_counter() - started)
            both_latencies.append(latencies[number] + crop_latencies[-1])

    flat = hashes.ravel()
    scan_latencies: list[float] = []
    agree = 0
    for number in range(min(args.scan_queries, len(queries))):
        started = time.perf_counter()
        expected = linear_scan(flat, seqs, queries[number], radius, single)
        scan_latencies.append(time.perf_counter() - started)
        got = {hit.seq: hit.distance for hit in index.search(query_lists[number], radius, 10**9)}
        agree += got == expected

    sweep: list[tuple[int, list[float]]] = []
    for other in (int(part) for part in args.sweep.split(",") if part):
        index.search(query_lists[0], other, 32)
        samples = []
        for query in query_lists[: min(500, len(query_lists))]:
            started = time.perf_counter()
            index.search(query, other, 32)
            samples.append(time.perf_counter() - started)
        sweep.append((other, samples))

    snapshot = ""
    if not args.no_snapshot:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "index.npz"
            started = time.perf_counter()
            index.save(path)
            saved = time.perf_counter() - started
            size = sum(part.stat().st_size for part in Path(folder).glob("*.npz"))
            del index
            gc.collect()
            started = time.perf_counter()
            index = HashIndex.load(path) if single else CandidateIndex.load_or_build(path)
            loaded = time.perf_counter() - started
        snapshot = f"snapshot: {size / 2**20:,.0f} MiB, save {saved:.1f} s, load {loaded:.1f} s"

    rows = args.rows
    print()
    print(f"build (sort {merged_rows:,} rows into {len(split)} tables): {build_seconds:8.1f} s")
    print(f"index arrays: {index_bytes / 2**20:10.1f} MiB  ({index_bytes / rows:6.1f} bytes/row)")
    print(f"RSS growth:   {rss_index / 2**20:10.1f} MiB  ({rss_index / rows:6.1f} bytes/row)")
    print(f"peak RSS:     {peak_rss_bytes() / 2**20:10.1f} MiB (includes the raw hashes and the build)")
    print(f"unmerged delta: {args.delta:,} rows scanned linearly on every lookup")
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print()
    print(f"{'lookup of 4 query hashes':34} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    print(f"{'multi-index HashIndex.search':34} {len(latencies):5d} {percentiles(latencies)}")
    print(f"{'  same, CPU time of this thread':34} {len(cpu_times):5d} {percentiles(cpu_times)}")
    if crop_latencies:
        print(f"{'deepest-crop lookup (search_crops)':34} {len(crop_latencies):5d} {percentiles(crop_latencies)}")
        print(f"{'  both, for an upload with no copy':34} {len(both_latencies):5d} {percentiles(both_latencies)}")
    print(f"{'numpy linear XOR-popcount scan':34} {len(scan_latencies):5d} {percentiles(scan_latencies)}")
    for other, samples in sweep:
        print(f"{f'multi-index at radius {other}':34} {len(samples):5d} {percentiles(samples)}")
    print()
    p99 = float(np.percentile(np.array(latencies) * 1000, 99))
    speedup = float(np.median(scan_latencies) / np.median(latencies))
    print(f"planted near-duplicates found: {found_planted}/{(len(queries) + 1) // 2}")
    print(f"index results equal to the linear scan: {agree}/{len(scan_latencies)}")
    print(f"median speed-up over the linear scan: {speedup:.0f}x")
    if snapshot:
        print(snapshot)
    cpu_p99 = float(np.percentile(np.array(cpu_times) * 1000, 99))
    print(f"p99 lookup {p99:.3f} ms (CPU {cpu_p99:.3f} ms) <= 2 ms: {'yes' if p99 <= 2.0 else 'NO'}")


if __name__ == "__main__":
    main()
