"""Variant rendering speed and memory: skupix (Pillow pipeline) side by side with pyvips (libvips).

One run, same inputs, single-threaded (VIPS_CONCURRENCY=1, cv2.setNumThreads(1)); each figure is
the median of `--repeat` timed runs after a warm-up, the two renderers alternating run by run so
that the shared machine's noise falls on both. Inputs are generated here:

- a real-photo-like 12 MP JPEG (4240x2832, q92): a packshot on a slightly uneven light studio
  background with sensor noise, a textured product and a soft shadow;
- a 100 MP JPEG (11648x8736) of the same scene, for peak RSS, measured in fresh subprocesses
  (resource.getrusage ru_maxrss) for: upload (decode + fingerprint), render (every built-in profile
  but AVIF), and pyvips rendering the same set.

pyvips is the reference, installed with the optional extra: `pip install -e '.[bench]'`.

    VIPS_CONCURRENCY=1 .venv/bin/python benchmarks/variants.py --repeat 5
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ["VIPS_CONCURRENCY"] = "1"
os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from processing.decode import DecodeLimits
from processing.fingerprint import fingerprint
from processing.profiles import Fit, Profile, load_catalog
from processing.render import render_many

cv2.setNumThreads(1)
LIMITS = DecodeLimits()
PHOTO_12MP = (4240, 2832)
PHOTO_100MP = (11648, 8736)


def studio_photo(size: tuple[int, int], seed: int = 5) -> Image.Image:
    """A packshot as a camera takes it: uneven light background, noise, texture, soft shadow."""
    width, height = size
    rng = np.random.default_rng(seed)
    out = np.empty((height, width, 3), dtype=np.uint8)
    xs = np.linspace(-1.0, 1.0, width, dtype=np.float32)
    cx, cy, rx, ry = 0.0, 0.05, 0.42, 0.7  # the product: an upright rounded body in the middle
    step = 512
    for top in range(0, height, step):  # in strips, so a 100 MP picture needs no float copy of itself
        rows = min(step, height - top)
        ys = np.linspace(-1.0, 1.0, height, dtype=np.float32)[top:top + rows][:, None]
        light = 246.0 - 6.0 * (xs[None, :] ** 2 + ys ** 2)  # a studio sweep, brighter in the middle
        shadow = np.exp(-(((xs[None, :] - cx) / 0.55) ** 2 + ((ys - 0.78) / 0.08) ** 2)) * 40.0
        strip = np.repeat((light - shadow)[:, :, None], 3, axis=2)
        inside = ((xs[None, :] - cx) / rx) ** 2 + ((ys - cy) / ry) ** 4 < 1.0
        u, v = xs[None, :] * 40.0, ys * 60.0
        texture = 18.0 * np.sin(u * 3.1 + np.sin(v * 0.7) * 2.0) * np.cos(v * 1.7)
        shade = 60.0 * (1.0 - np.abs(xs[None, :] - cx) / rx)
        shade, texture = np.broadcast_arrays(shade, texture)
        body = np.stack([90.0 + shade + texture, 40.0 + 0.5 * shade + texture, 30.0 + 0.3 * shade], axis=2)
        label = inside & (np.abs(ys - 0.05) < 0.18) & (np.abs(xs[None, :] - cx) < 0.3)
        body[label] = (235.0, 228.0, 205.0)
        strip = np.where(inside[:, :, None], body, strip)
        strip += rng.normal(0.0, 3.5, strip.shape).astype(np.float32)  # sensor noise
        out[top:top + rows] = np.clip(strip, 0, 255).astype(np.uint8)
    return Image.fromarray(out, "RGB")


def photo_jpeg(size: tuple[int, int]) -> bytes:
    """The studio photo as a camera JPEG (q92, 4:2:0)."""
    buffer = io.BytesIO()
    studio_photo(size).save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


# ---- the two renderers -------------------------------------------------------------------------


def skupix_render(data: bytes, profiles: list[Profile]) -> int:
    """skupix: one decode at the largest scale needed, every profile derived from it."""
    results = render_many(data, LIMITS, profiles)
    return sum(len(r.data) for r in results.values() if not isinstance(r, Exception))


def pyvips_render(data: bytes, profiles: list[Profile]) -> int:
    """pyvips: thumbnail (shrink-on-load) + gravity/crop + save per profile, as imgproxy does."""
    import pyvips

    total = 0
    for profile in profiles:
        if profile.fit is Fit.PAD:
            image = pyvips.Image.thumbnail_buffer(
                data, round(profile.width * profile.fill), height=round(profile.height * profile.fill), size="down"
            )
            image = image.gravity("centre", profile.width, profile.height, extend="background",
                                  background=list(profile.background_rgb))
        elif profile.fit is Fit.COVER:
            image = pyvips.Image.thumbnail_buffer(data, profile.width, height=profile.height, crop="attention")
        else:
            image = pyvips.Image.thumbnail_buffer(data, profile.width, height=profile.height, size="down")
        if profile.format == "JPEG":
            out = image.jpegsave_buffer(Q=profile.quality, optimize_coding=True, interlace=True, keep="none")
        elif profile.format == "WEBP":
            out = image.webpsave_buffer(Q=profile.quality, effort=4, keep="none")
        elif profile.format == "AVIF":
            out = image.heifsave_buffer(Q=profile.quality, compression="av1", effort=2, keep="none")
        else:
            out = image.pngsave_buffer(compression=6, keep="none")
        total += len(out)
    return total


def timed(fn: Callable[[], int]) -> tuple[float, float]:
    """CPU seconds (all threads of this process) and wall seconds of one call."""
    cpu, wall = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - cpu, time.perf_counter() - wall


def side_by_side(label: str, data: bytes, profiles: list[Profile], repeat: int) -> dict[str, object]:
    """Median CPU and wall milliseconds of skupix and pyvips on the same input, alternating.

    CPU time is the figure to compare on a shared machine: wall time also counts the time other
    processes held the cores."""
    skupix_render(data, profiles)
    pyvips_render(data, profiles)
    ours, theirs = [], []
    for _ in range(repeat):
        ours.append(timed(lambda: skupix_render(data, profiles)))
        theirs.append(timed(lambda: pyvips_render(data, profiles)))

    def ms(runs: list[tuple[float, float]], which: int) -> float:
        return round(statistics.median(run[which] for run in runs) * 1000, 1)

    return {
        "case": label, "profiles": len(profiles),
        "skupix_cpu_ms": ms(ours, 0), "pyvips_cpu_ms": ms(theirs, 0),
        "cpu_ratio": round(ms(ours, 0) / ms(theirs, 0), 2),
        "skupix_wall_ms": ms(ours, 1), "pyvips_wall_ms": ms(theirs, 1),
        "skupix_bytes": skupix_render(data, profiles), "pyvips_bytes": pyvips_render(data, profiles),
    }


# ---- peak RSS in a fresh process ---------------------------------------------------------------


def child(mode: str, path: Path) -> None:
    """Run one memory case and print its peak RSS (MB) as JSON."""
    data = path.read_bytes()
    catalog = load_catalog()
    profiles = [p for p in catalog.profiles.values() if p.format != "AVIF"]
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    if mode == "upload":
        from processing.decode import decode

        decoded = decode(data, LIMITS)
        fingerprint(decoded.image)
        facts: dict[str, object] = {"decoded": list(decoded.image.size), "source": [decoded.width, decoded.height]}
    elif mode == "render":
        results = render_many(data, LIMITS, profiles)
        facts = {"rendered": sum(not isinstance(r, Exception) for r in results.values())}
    else:
        pyvips_render(data, profiles)
        facts = {}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with open("/proc/self/status", encoding="ascii") as status:  # the kernel's own high-water mark, to cross-check
        hwm = int(status.read().split("VmHWM:")[1].split()[0]) / 1024
    print(json.dumps({"mode": mode, "peak_rss_mb": round(peak, 1), "vm_hwm_mb": round(hwm, 1),
                      "after_imports_mb": round(baseline, 1),
                      "seconds": round(time.perf_counter() - started, 2), **facts}))


def measure_rss(mode: str, path: Path) -> dict[str, object]:
    """Peak RSS of one case in a fresh interpreter."""
    # Linux carries a process's peak RSS across fork + exec, so a child exec'd straight from this
    # (large) process would report at least our peak: a shell in between forks it from a small one.
    command = " ".join(shlex.quote(part) for part in (sys.executable, __file__, "--child", mode, str(path)))
    done = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True,
                          env={**os.environ, "VIPS_CONCURRENCY": "1"})
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    """Run every case and print one JSON line per figure."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    parser.add_argument("--skip-rss", action="store_true")
    parser.add_argument("--only-rss", action="store_true")
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return
    if not args.only_rss:
        speed(args.repeat)
    if not args.skip_rss:
        memory()


def speed(repeat: int) -> None:
    """The side-by-side timings on the 12 MP photo."""
    catalog = load_catalog()
    photo = photo_jpeg(PHOTO_12MP)
    print(json.dumps({"input": "12 MP studio photo", "size": list(PHOTO_12MP), "bytes": len(photo)}))
    one = catalog.profile("taobao_main")  # the 800x800 padded JPEG
    print(json.dumps(side_by_side("one profile (taobao_main 800x800 pad JPEG)", photo, [one], repeat)))
    still = [p for p in catalog.profiles.values() if p.format != "AVIF"]
    print(json.dumps(side_by_side("every built-in profile but AVIF", photo, still, max(1, repeat // 2))))
    avif = [p for p in catalog.profiles.values() if p.format == "AVIF"]
    print(json.dumps(side_by_side("AVIF profiles (background work only)", photo, avif, max(1, repeat // 2))))


def memory() -> None:
    """Peak RSS of the 100 MP upload and render paths, and of pyvips rendering the same set."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "100mp.jpg"
        path.write_bytes(photo_jpeg(PHOTO_100MP))
        print(json.dumps({"input": "100 MP studio photo", "size": list(PHOTO_100MP), "bytes": path.stat().st_size}))
        for mode in ("upload", "render", "pyvips"):
            print(json.dumps(measure_rss(mode, path)))


if __name__ == "__main__":
    main()
