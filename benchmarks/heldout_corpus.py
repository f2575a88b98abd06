"""Write the held-back dedup corpus (tests/fixtures/heldout.py) to a folder for dedup_quality.py.

Usage: python benchmarks/heldout_corpus.py OUTDIR [--models N]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fixtures.heldout import build


def main() -> None:
    """Generate the corpus."""
    parser = argparse.ArgumentParser()
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--models", type=int, default=10)
    args = parser.parse_args()
    images = args.outdir / "images"
    images.mkdir(parents=True, exist_ok=True)
    records = []
    for sample in build(args.models):
        (images / sample.name).write_bytes(sample.data)
        records.append({"file": sample.name, "group": sample.group, "kind": sample.kind})
    (args.outdir / "truth.json").write_text(json.dumps({"images": records}, indent=1))
    print(f"{len(records)} images -> {args.outdir}")


if __name__ == "__main__":
    main()
