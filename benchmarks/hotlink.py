"""Hotlink serving speed, side by side with nginx in one run on loopback.

Stores two cached variants (about 50 KB and 200 KB) of one asset, then loads each with wrk
(bounded duration, one wrk thread, same connection count) from: nginx serving the same file
statically (plainly set up, and with open_file_cache as the edge has it), a bare ASGI handler with
the file in memory under granian (the ceiling for any app answering through ASGI here), the app
alone as `skupix serve` runs it (uvicorn+httptools with the hotlink fast lane, api/fastlane.py),
the same with the lane bypassed (an X-Forwarded-Proto header sends requests down the ASGI path),
under granian (one worker process each, one nginx worker), and the app behind the nginx edge of
infra/ (warm cache; under the official nginx image's http settings, as compose runs it). Also 304
answers and 404s for an unknown asset and an unknown profile. Prints req/s and p50/p99 with the
targets: app >= 60% of nginx static with p99 < 4x nginx's; edge >= 90%; 304 >= full; 404 >= hit.
Each row also gives the server's CPU time per answer (user + system, all its processes, from
/proc), steadier than req/s on a shared machine.

Usage: python benchmarks/hotlink.py [--seconds 5] [--connections 32] [--rounds 3]
Needs wrk (apt-get install -y wrk) and nginx.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.scaleout.conftest import free_port, render_edge_config  # noqa: E402

SKUPIX = str(Path(sys.executable).parent / "skupix")
PROFILE = "taobao_main"  # a .jpg profile; the stored bytes are sized for the benchmark


@dataclass
class Run:
    """One wrk run's figures."""

    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: str
    cpu_us: float = float("nan")  # the server's CPU time (user + system, every process of it) per answer


def noise_jpeg(target: int) -> bytes:
    """A JPEG of about `target` bytes."""
    rng = np.random.default_rng(target)
    side = 64
    while True:
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 255, (side, side, 3), dtype=np.uint8), "RGB").save(buffer, "JPEG",
                                                                                              quality=70)
        if buffer.tell() >= target:
            return buffer.getvalue()
        side += 8


def prepare(root: Path) -> tuple[dict[str, str], str, dict[str, tuple[str, str, str]]]:
    """A registry with one asset and two stored variants; its env, asset id and variants (path, file, etag)."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from registry.models import Variant
    from registry.settings import Settings
    from registry.tenants.service import create_key
    from tests.fixtures.pictures import jpeg, product
    from workers.bootstrap import close_runtime, create_runtime

    values = {"SKUPIX_DATA_DIR": str(root / "data"), "SKUPIX_DATABASE_URL": f"sqlite:///{root / 'reg.sqlite3'}",
              "SKUPIX_STORAGE_URL": (root / "blobs").as_uri(), "SKUPIX_BROKER_URL": "",
              "SKUPIX_INDEX_SNAPSHOT": "false"}
    settings = Settings(data_dir=root / "data", database_url=values["SKUPIX_DATABASE_URL"],
                        storage_url=values["SKUPIX_STORAGE_URL"], broker_url="", index_snapshot=False)
    rt = create_runtime(settings, role="test")
    try:
        with rt.db.unit_of_work() as session:
            _tenant, key = create_key(session, "bench", "merchant")
        with TestClient(create_app(runtime=rt)) as client:
            answer = client.post("/v1/media", headers={"Authorization": f"Bearer {key}"},
                                 files={"file": ("p.jpg", jpeg(product(7, size=900)), "image/jpeg")})
            assert answer.status_code == 201, answer.text
            asset_id = answer.json()["asset_id"]
        made = {}
        for label, size in (("50k", 50_000), ("200k", 200_000)):
            data = noise_jpeg(size)
            version = f"bench{label}"
            blob_key = f"variants/{asset_id}/{PROFILE}/{version}.jpg"
            rt.store.put_if_absent(blob_key, data, "image/jpeg")
            etag = hashlib.sha256(data).hexdigest()[:32]
            with rt.db.unit_of_work() as session:
                session.add(Variant(id=f"var_bench{label}", asset_id=asset_id, profile=PROFILE, version=version,
                                    master_sha256="0" * 64, blob_key=blob_key, content_type="image/jpeg",
                                    etag=etag, size_bytes=len(data), width=1, height=1))
            made[label] = (f"/v/{asset_id}/{PROFILE}/{version}.jpg", blob_key, f'"{etag}"')
            print(f"variant {label}: {len(data):,} bytes")
    finally:
        close_runtime(rt)
    return values, asset_id, made


def wait_ready(url: str, timeout: float = 60) -> None:
    """Wait until `url` answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def start(stack: ExitStack, argv: list[str], env: dict[str, str] | None, log: Path) -> int:
    """Start a process in its own group, stopped when the stack closes; its pid."""
    handle = log.open("wb")
    process = subprocess.Popen(argv, env=env, stdout=handle, stderr=subprocess.STDOUT, cwd=REPO,
                               start_new_session=True)

    def stop() -> None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(process.pid, signal.SIGKILL)
        handle.close()

    stack.callback(stop)
    return process.pid


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and all its descendants (nginx's workers, say)."""
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            pending += [int(child) for task in Path(f"/proc/{current}/task").iterdir()
                        for child in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


# The http settings of the official nginx image's nginx.conf, which infra/compose.yaml runs the edge under
# (its template must bring whatever else its speed needs); the static nginx is set up for speed.
STOCK_HTTP = "sendfile on;\n    keepalive_timeout 65;"
STATIC_HTTP = "sendfile on;\n    tcp_nopush on;\n    keepalive_requests 100000;"


def nginx(stack: ExitStack, root: Path, http_body: str, settings: str = STATIC_HTTP) -> int:
    """The real nginx, one worker, with `settings` and `http_body` inside its http block; the master's pid."""
    for folder in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi", "logs", "cache"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    user = "user root;\n" if os.geteuid() == 0 else ""
    (root / "nginx.conf").write_text(f"""{user}worker_processes 1;
daemon off;
pid {root}/nginx.pid;
error_log {root}/logs/error.log warn;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {root}/logs/access.log combined buffer=32k flush=1s;  # as the edge logs variant requests
    {settings}
    client_body_temp_path {root}/client_body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    {http_body}
}}
""", encoding="utf-8")
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    return start(stack, [binary, "-p", str(root), "-c", str(root / "nginx.conf")], None, root / "logs" / "stdout.log")


_UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(name: str, url: str, seconds: int, connections: int, headers: dict[str, str] | None = None,
        server_pid: int | None = None) -> Run:
    """Load `url` with wrk: requests/s, the 50th and 99th latency percentiles, the server's CPU per answer."""
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "--latency"]
    for key, value in (headers or {}).items():
        argv += ["-H", f"{key}: {value}"]
    cpu_before = cpu_seconds(server_pid) if server_pid else 0.0
    out = subprocess.run([*argv, url], capture_output=True, text=True, timeout=seconds + 30).stdout
    cpu = cpu_seconds(server_pid) - cpu_before if server_pid else float("nan")

    def latency(pct: str) -> float:
        found = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        return float(found.group(1)) * _UNIT[found.group(2)] if found else float("nan")

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = " ".join(line.strip() for line in out.splitlines()
                      if "Non-2xx" in line or "Socket errors" in line)
    answers = float(rps.group(1)) * seconds if rps else 0.0
    return Run(name, float(rps.group(1)) if rps else 0.0, latency("50"), latency("99"), errors,
               cpu / answers * 1e6 if answers else float("nan"))


def main() -> None:
    """Run every scenario and print the table and the targets."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default="", help="comma-separated name fragments: run just those scenarios")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: apt-get install -y wrk")
    secs, conns = args.seconds, args.connections
    runs: dict[str, Run] = {}
    scenarios: list[tuple[str, str, dict[str, str], int]] = []  # name, URL, request headers, server pid

    with tempfile.TemporaryDirectory(prefix="skupix-hotlink-") as tmp, ExitStack() as stack:
        root = Path(tmp)
        env_values, asset_id, made = prepare(root)
        env = {key: value for key, value in os.environ.items() if not key.startswith("SKUPIX_")} | env_values
        blobs = root / "blobs"

        # nginx as one would set it up to serve a folder; and the same with open_file_cache, as the edge has it
        for folder, tuning in (("static", ""), ("static-ofc", "open_file_cache max=1000 inactive=60s;")):
            static_port = free_port()
            pid = nginx(stack, root / folder, f"""server {{
        listen 127.0.0.1:{static_port};
        location /variants/ {{
            root {blobs};
            expires max;
            add_header X-Content-Type-Options nosniff;
            add_header Access-Control-Allow-Origin *;
            {tuning}
        }}
    }}""")
            static = f"http://127.0.0.1:{static_port}"
            wait_ready(static)
            for label, (_path, blob_key, _etag) in made.items():
                if not tuning:
                    scenarios.append((f"nginx static {label}", f"{static}/{blob_key}", {}, pid))
                elif label == "50k":
                    scenarios.append(("nginx static 50k, open_file_cache", f"{static}/{blob_key}", {}, pid))

        ports = {}
        for server in ("granian", "uvicorn"):
            port = ports[server] = free_port()
            pid = start(stack, [SKUPIX, "serve", "--server", server, "--port", str(port)], env,
                        root / f"{server}.log")
            base = f"http://127.0.0.1:{port}"
            wait_ready(base + "/healthz")
            for label, (path, _key, _etag) in made.items():
                scenarios.append((f"{server} {label}", base + path, {}, pid))
            if server == "uvicorn":
                path = made["50k"][0]
                scenarios.append(("uvicorn 50k, ASGI path", base + path, {"X-Forwarded-Proto": "http"}, pid))
            path, _key, etag = made["50k"]
            scenarios.append((f"{server} 304 (50k)", base + path, {"If-None-Match": etag}, pid))
            scenarios.append((f"{server} 404 unknown asset", base + path.replace(asset_id, "ast_" + "0" * 26), {},
                              pid))
            scenarios.append((f"{server} 404 unknown profile", base + path.replace(PROFILE, "no_such_profile"), {},
                              pid))

        # The ceiling: a bare ASGI handler with the 50 KB file in memory, under granian, one worker.
        bare_port = free_port()
        pid = start(stack, [str(Path(sys.executable).parent / "granian"), "--interface", "asgi", "--port",
                            str(bare_port), "--no-ws", "--working-dir", str(REPO / "benchmarks"), "bare_asgi:app"],
                    env | {"BARE_FILE": str(blobs / made["50k"][1])}, root / "bare.log")
        wait_ready(f"http://127.0.0.1:{bare_port}/")
        scenarios.append(("bare ASGI under granian 50k", f"http://127.0.0.1:{bare_port}/", {}, pid))

        edge_port = free_port()
        edge_root = root / "edge"
        edge_root.mkdir()
        pid = nginx(stack, edge_root, render_edge_config(f"127.0.0.1:{edge_port}", f"127.0.0.1:{ports['uvicorn']}",
                                                   edge_root / "cache"), STOCK_HTTP)
        edge = f"http://127.0.0.1:{edge_port}"
        wait_ready(edge + "/healthz")
        for label, (path, _key, _etag) in made.items():
            httpx.get(edge + path)
            assert httpx.get(edge + path).headers.get("x-cache-status") == "HIT"
            scenarios.append((f"edge {label}", edge + path, {}, pid))  # a hit costs the app nothing

        if args.only:
            scenarios = [s for s in scenarios if any(part in s[0] for part in args.only.split(","))]
        # Rounds interleave the servers, so a busy spell of the (shared) machine hits them all alike;
        # each figure is the median over the rounds.
        for name, url, headers, _pid in scenarios:
            wrk(name, url, 1, conns, headers)  # warm-up: first loads, page cache, keep-alive pools
        samples: dict[str, list[Run]] = {name: [] for name, _url, _headers, _pid in scenarios}
        for round_no in range(args.rounds):
            print(f"round {round_no + 1}/{args.rounds}", flush=True)
            for name, url, headers, pid in scenarios:
                samples[name].append(wrk(name, url, secs, conns, headers, pid))
        print(f"\none worker process each (nginx: worker_processes 1), wrk -t1 -c{conns}, {secs} s x {args.rounds} "
              f"rounds, median; app access log on; CPU = the server's user + system time per answer")
        for name, got in samples.items():
            rps = statistics.median(r.rps for r in got)
            run = runs[name] = Run(name, rps, statistics.median(r.p50_ms for r in got),
                                   statistics.median(r.p99_ms for r in got), got[-1].errors,
                                   statistics.median(r.cpu_us for r in got))
            print(f"  {name:<34} {run.rps:>9.0f} req/s  p50 {run.p50_ms:7.2f} ms  p99 {run.p99_ms:7.2f} ms  "
                  f"CPU {run.cpu_us:6.1f} us {run.errors}")

    if args.only:
        return
    print("\ntargets (the faster app server):")
    for label in ("50k", "200k"):
        ref = runs[f"nginx static {label}"]
        best = max((runs[f"{s} {label}"] for s in ("granian", "uvicorn")), key=lambda r: r.rps)
        edge_run = runs[f"edge {label}"]
        if label == "50k":
            bare = runs["bare ASGI under granian 50k"]
            asgi, lane = runs["uvicorn 50k, ASGI path"], runs["uvicorn 50k"]
            print(f"  a bare ASGI handler under granian: {bare.rps / ref.rps:.0%} of nginx; the app through ASGI "
                  f"(uvicorn, lane bypassed) {asgi.rps / ref.rps:.0%}, with the fast lane {lane.rps / ref.rps:.0%}")
        print(f"  {label}: {best.name} {best.rps / ref.rps:.0%} of nginx (>= 60%), "
              f"p99 {best.p99_ms / ref.p99_ms:.1f}x nginx's (< 4x); edge {edge_run.rps / ref.rps:.0%} (>= 90%)")
    tuned = runs["nginx static 50k, open_file_cache"]
    print(f"  50k: edge {runs['edge 50k'].rps / tuned.rps:.0%} of nginx static with open_file_cache; CPU per answer: "
          f"edge {runs['edge 50k'].cpu_us:.1f} us, nginx static {runs['nginx static 50k'].cpu_us:.1f} us "
          f"({tuned.cpu_us:.1f} with open_file_cache), app {runs['uvicorn 50k'].cpu_us:.1f} us")
    for server in ("granian", "uvicorn"):
        hit = runs[f"{server} 50k"].rps
        print(f"  {server}: 304 {runs[f'{server} 304 (50k)'].rps / hit:.2f}x a hit (>= 1); "
              f"404 asset {runs[f'{server} 404 unknown asset'].rps / hit:.2f}x, "
              f"404 profile {runs[f'{server} 404 unknown profile'].rps / hit:.2f}x (>= 1)")


if __name__ == "__main__":
    main()
