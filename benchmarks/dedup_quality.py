"""Dedup quality through the HTTP API: upload a labelled corpus, then compare the asset ids.

Usage:
    python benchmarks/dedup_quality.py CORPUS_DIR --server http://127.0.0.1:8000 --key KEY [--order shuffled]

CORPUS_DIR holds images/ and truth.json ({"images": [{"file", "group", "kind"}]}), as written by
../shared/eval/make_dedup_corpus.py or by benchmarks/heldout_corpus.py. Images of one group are one
picture (must share an asset); images of different groups are different pictures (must not).
Look-alike pairs are different groups of the same product model ("m003-base" vs "m003-colour").
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx


def model_of(group: str) -> str | None:
    """The product model a group belongs to, for look-alike pairs (m003-colour → m003, h07-line → h07)."""
    head, dash, _tail = group.partition("-")
    return head if dash and len(head) > 1 and head[0].isalpha() and head[1:].isdigit() else None


def main() -> int:
    """Upload the corpus and print pair-level merge rates."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--server", default="http://127.0.0.1:8000")
    parser.add_argument("--key", required=True)
    parser.add_argument("--order", choices=["shuffled", "originals-first", "copies-first"], default="shuffled")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()

    truth = json.loads((args.corpus / "truth.json").read_text())["images"]
    records = list(truth)
    if args.order == "shuffled":
        random.Random(args.seed).shuffle(records)
    elif args.order == "originals-first":
        records.sort(key=lambda r: r["kind"] != "original")
    else:
        records.sort(key=lambda r: r["kind"] == "original")

    client = httpx.Client(base_url=args.server, headers={"Authorization": f"Bearer {args.key}"}, timeout=300)
    asset_of: dict[str, str] = {}
    outcome: dict[str, str] = {}
    started = time.monotonic()

    def send(record: dict[str, str]) -> tuple[str, dict[str, object]]:
        path = args.corpus / "images" / record["file"]
        response = client.post("/v1/media", files={"file": (path.name, path.read_bytes())})
        response.raise_for_status()
        return record["file"], response.json()

    with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        for name, body in pool.map(send, records):
            asset_of[name] = str(body["asset_id"])
            outcome[name] = str(body["dedup"])
    elapsed = time.monotonic() - started

    group = {r["file"]: r["group"] for r in truth}
    kind = {r["file"]: r["kind"] for r in truth}
    same_total = same_merged = 0
    look_total = look_merged = 0
    other_total = other_merged = 0
    missed: list[str] = []
    false_merges: list[str] = []
    per_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for a, b in itertools.combinations(sorted(asset_of), 2):
        merged = int(asset_of[a] == asset_of[b])
        if group[a] == group[b]:
            same_total += 1
            same_merged += merged
            for k in {kind[a], kind[b]} - {"original"}:
                per_kind[k][0] += 1
                per_kind[k][1] += merged
            if not merged:
                missed.append(f"{a} ~ {b}")
        elif model_of(group[a]) is not None and model_of(group[a]) == model_of(group[b]):
            look_total += 1
            look_merged += merged
            if merged:
                false_merges.append(f"LOOK-ALIKE {a} ~ {b}")
        else:
            other_total += 1
            other_merged += merged
            if merged:
                false_merges.append(f"UNRELATED {a} ~ {b}")

    def pct(part: int, whole: int) -> str:
        return f"{100.0 * part / whole:.3f}%" if whole else "n/a"

    print(f"corpus: {args.corpus}  images: {len(records)}  order: {args.order}  upload time: {elapsed:.1f}s")
    print(f"outcomes: {dict(sorted((k, list(outcome.values()).count(k)) for k in set(outcome.values())))}")
    print(f"{'pairs':<34}{'count':>10}{'merged':>10}{'rate':>12}   target")
    print(f"{'same picture (recall)':<34}{same_total:>10}{same_merged:>10}{pct(same_merged, same_total):>12}   >= 99%")
    print(f"{'look-alike products (false merge)':<34}{look_total:>10}{look_merged:>10}"
          f"{pct(look_merged, look_total):>12}   <= 0.1%")
    print(f"{'unrelated pictures (false merge)':<34}{other_total:>10}{other_merged:>10}"
          f"{pct(other_merged, other_total):>12}   <= 0.1%")
    print("recall by edit:")
    for name, (total, merged) in sorted(per_kind.items()):
        print(f"  {name:<16}{merged:>6}/{total:<6}{pct(merged, total):>10}")
    members: dict[str, list[str]] = defaultdict(list)
    for name in asset_of:
        members[group[name]].append(name)
    for group_name, names in sorted(members.items()):
        assets = [asset_of[n] for n in names]
        majority = max(set(assets), key=assets.count)
        strays = [n for n in names if asset_of[n] != majority]
        if strays:
            print(f"  split from {group_name}: {', '.join(sorted(strays))}")
    for line in missed[:10]:
        print("  missed:", line)
    for line in false_merges[:25]:
        print("  false merge:", line)
    ok = (same_total and same_merged / same_total >= 0.99
          and (not look_total or look_merged / look_total <= 0.001)
          and (not other_total or other_merged / other_total <= 0.001))
    print("targets met" if ok else "targets NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
