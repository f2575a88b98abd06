"""Resident memory after a burst of large decodes, with and without returning freed pages (malloc_trim).

Run: .venv/bin/python benchmarks/memory_trim.py [--megapixels 36] [--burst 4]
Prints RSS before the burst, right after it (pages glibc keeps), and after workers.memory.release_memory().
"""

from __future__ import annotations

import argparse
import io
import resource
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image

from processing.decode import DecodeLimits, decode
from processing.profiles import load_catalog
from processing.render import render
from workers.memory import release_memory


def rss_mib() -> float:
    """Current resident set size in MiB (Linux /proc)."""
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def big_jpeg(megapixels: float) -> bytes:
    """A noisy JPEG of about `megapixels` (noise defeats any shortcut in the codec)."""
    side = int((megapixels * 1e6) ** 0.5)
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 255, (side // 8, side // 8, 3), dtype=np.uint8)
    image = Image.fromarray(pixels).resize((side, side), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def work(data: bytes) -> int:
    """Decode and render every profile, as a render job does."""
    decoded = decode(data, DecodeLimits(max_pixels=60_000_000))
    catalog = load_catalog(None)
    return sum(len(render(decoded.image, profile).data) for profile in catalog.profiles.values())


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--megapixels", type=float, default=36.0)
    parser.add_argument("--burst", type=int, default=4)
    args = parser.parse_args()
    data = big_jpeg(args.megapixels)
    start = rss_mib()
    with ThreadPoolExecutor(args.burst) as pool:
        list(pool.map(work, [data] * args.burst))
    after = rss_mib()
    trimmed = release_memory()
    end = rss_mib()
    print(f"{args.megapixels:.0f} MP x {args.burst} concurrent decode+render")
    print(f"rss before burst      {start:8.0f} MiB")
    print(f"rss after burst       {after:8.0f} MiB")
    print(f"rss after malloc_trim {end:8.0f} MiB  (trim supported: {trimmed})")


if __name__ == "__main__":
    main()
