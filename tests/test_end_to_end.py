"""End to end on the embedded default: `skupix serve` as a subprocess, driven over HTTP and the CLI."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.fixtures.pictures import encode, jpeg, product

BIN = Path(sys.executable).parent / "skupix"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKUPIX_")}
    env["SKUPIX_DATA_DIR"] = str(data_dir)
    return env


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    """A running `skupix serve` on a free port with a fresh data dir; yields (url, key, data dir)."""
    data_dir = tmp_path / "skupix-data"
    env = _env(data_dir)
    created = subprocess.run([str(BIN), "keys", "create", "--tenant", "ブランド", "--kind", "brand"],
                             env=env, capture_output=True, text=True, check=True, timeout=60)
    key = created.stdout.strip().splitlines()[-1]
    port = _free_port()
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen([str(BIN), "serve", "--host", "127.0.0.1", "--port", str(port)],
                               env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("skupix serve did not come up: " + (tmp_path / "serve.log").read_text())
            time.sleep(0.2)
        yield url, key, data_dir
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.mark.slow
def test_upload_dedup_listing_variant_and_304(server: tuple[str, str, Path], tmp_path: Path) -> None:
    url, key, data_dir = server
    headers = {"Authorization": f"Bearer {key}"}
    http = httpx.Client(base_url=url, headers=headers, timeout=60)
    picture = product(5, size=3200, label="LUMEN", line="250 ml")  # big enough for Amazon's 2000 px main

    first = http.post("/v1/media", files={"file": ("主图.jpg", jpeg(picture, 95), "image/jpeg")},
                      data={"sku": "保温杯-500", "role": "main"})
    assert first.status_code == 201, first.text
    asset_id = first.json()["asset_id"]
    assert (data_dir / "skupix.sqlite3").exists()

    again = http.post("/v1/media", files={"file": ("copy.jpg", jpeg(picture, 95), "image/jpeg")})
    assert (again.status_code, again.json()["dedup"], again.json()["asset_id"]) == (200, "exact", asset_id)

    near = http.post("/v1/media", files={"file": ("gallery.png", encode(picture, "PNG"), "image/png")},
                     data={"sku": "保温杯-500", "role": "gallery"})
    assert (near.status_code, near.json()["dedup"], near.json()["asset_id"]) == (200, "near", asset_id)

    listing = http.get("/v1/skus/保温杯-500/listing", params={"platform": "amazon"}).json()
    assert [(s["role"], s["profile"]) for s in listing["slots"]] == [("main", "amazon_main"),
                                                                     ("gallery", "amazon_gallery")]
    main_url = listing["slots"][0]["url"]
    assert "?" not in main_url and main_url.endswith(".jpg")

    variant = httpx.get(main_url, timeout=60)
    assert variant.status_code == 200
    assert variant.headers["content-type"] == "image/jpeg"
    assert variant.headers["cache-control"] == "public, max-age=31536000, immutable"
    etag = variant.headers["etag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    with Image.open(__import__("io").BytesIO(variant.content)) as rendered:
        assert rendered.size == (2000, 2000)
        assert rendered.convert("RGB").getpixel((0, 0)) == (255, 255, 255)
    cached = httpx.get(main_url, headers={"If-None-Match": etag}, timeout=30)
    assert cached.status_code == 304

    alias = httpx.get(listing["slots"][0]["alias_url"], timeout=30)
    assert alias.status_code == 302 and alias.headers["location"] == main_url

    # the worker renders every profile after upload without anyone asking
    deadline = time.monotonic() + 120
    def settled() -> bool:  # rendered, or flagged as too small for the profile (never rendered)
        variants = http.get(f"/v1/media/{asset_id}").json()["variants"]
        return all(v["rendered"] or v["compliance"] == "fail" for v in variants)

    while not settled():
        assert time.monotonic() < deadline, "variants were not rendered in the background"
        time.sleep(0.5)

    bad = http.post("/v1/media", files={"file": ("x.txt", b"not an image", "text/plain")})
    assert bad.status_code == 415 and bad.json()["code"] == "image_unsupported_format"

    out = tmp_path / "pulled"
    pulled = subprocess.run(
        [str(BIN), "pull", "--sku", "保温杯-500", "--platform", "taobao", "--out", str(out),
         "--server", url, "--key", key],
        capture_output=True, text=True, timeout=120, env=_env(data_dir),
    )
    assert pulled.returncode == 0, pulled.stderr
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert [f["path"] for f in manifest["files"]] == ["保温杯-500.MAIN.jpg", "保温杯-500.PT01.jpg"]
    with Image.open(out / "保温杯-500.MAIN.jpg") as taobao:
        assert taobao.size == (800, 800)


@pytest.mark.slow
def test_ingest_folder_reports_dedup_summary(server: tuple[str, str, Path], tmp_path: Path) -> None:
    url, key, data_dir = server
    folder = tmp_path / "shoot"
    folder.mkdir()
    a = product(21, size=600, label="TERRA")
    b = product(22, size=600, label="NOVA")
    (folder / "TÊNIS-42.MAIN.jpg").write_bytes(jpeg(a, 92))
    (folder / "TÊNIS-42.PT01.jpg").write_bytes(jpeg(b, 92))
    (folder / "TÊNIS-42.PT02.jpg").write_bytes(jpeg(a, 92))  # the same bytes again
    (folder / "copy-of-b.png").write_bytes(encode(b, "PNG"))
    (folder / "notes.txt").write_text("ignored: not a picture", encoding="utf-8")
    result = subprocess.run(
        [str(BIN), "ingest", str(folder), "--server", url, "--key", key, "--concurrency", "1"],
        capture_output=True, text=True, timeout=180, env=_env(data_dir),
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["new"] == 2 and summary["exact"] == 1 and summary["near"] == 1 and summary["failed"] == 0
    assert summary["bytes_saved"] == len(jpeg(a, 92))
    assert "ingest" in result.stderr  # the progress bar was drawn
    skus = httpx.get(f"{url}/v1/skus", headers={"Authorization": f"Bearer {key}"}).json()
    assert skus == [{"sku": "TÊNIS-42", "slots": 3}]


def _pull(url: str, key: str, data_dir: Path, sku: str, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN), "pull", "--sku", sku, "--platform", "taobao", "--out", str(out), "--server", url, "--key", key],
        capture_output=True, text=True, timeout=120, env=_env(data_dir),
    )


@pytest.mark.slow
def test_pull_names_files_any_disk_accepts_and_reports_what_it_could_not_fetch(
    server: tuple[str, str, Path], tmp_path: Path
) -> None:
    url, key, data_dir = server
    http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60)
    long_sku = "不锈钢真空保温杯" * 25  # 200 characters, 600 bytes of UTF-8
    for sku, seed in ((long_sku, 31), ("破損-1", 32)):
        sent = http.post("/v1/media", files={"file": ("a.jpg", jpeg(product(seed, size=500)), "image/jpeg")},
                         data={"sku": sku, "role": "main"})
        assert sent.status_code == 201, sent.text

    pulled = _pull(url, key, data_dir, long_sku, tmp_path / "long")
    assert pulled.returncode == 0, pulled.stderr
    [written] = [p for p in (tmp_path / "long").iterdir() if p.name != "manifest.json"]
    assert len(written.name.encode()) <= 255 and written.name.startswith("不锈钢真空保温杯")

    # a variant whose blob went missing: that file fails with the server's reason, the run says so
    broken = http.get("/v1/skus/破損-1/listing", params={"platform": "taobao"}).json()["slots"][0]
    assert httpx.get(broken["url"], timeout=60).status_code == 200  # rendered and stored
    blobs = list((data_dir / "blobs" / "variants" / broken["asset_id"]).rglob("*.jpg"))
    assert blobs
    for blob in blobs:
        blob.unlink()
    # The server re-checks a file it holds in memory within a second (docs/serving.md): wait for it.
    deadline = time.monotonic() + 30
    while httpx.get(broken["url"], timeout=60).status_code != 503:
        assert time.monotonic() < deadline, "the server kept answering for a deleted blob"
        time.sleep(0.1)
    pulled = _pull(url, key, data_dir, "破損-1", tmp_path / "broken")
    assert pulled.returncode == 1
    assert "storage_unavailable" in pulled.stdout + pulled.stderr and "Traceback" not in pulled.stderr
    assert sorted(p.name for p in (tmp_path / "broken").iterdir()) == ["manifest.json"]  # no .part left behind
    manifest = json.loads((tmp_path / "broken" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["files"] == [] and len(manifest["failed"]) == 1

    not_a_folder = tmp_path / "notes.txt"
    not_a_folder.write_text("x", encoding="utf-8")
    pulled = _pull(url, key, data_dir, "破損-1", not_a_folder)
    assert pulled.returncode == 1 and "cannot write into" in pulled.stderr
    assert "Traceback" not in pulled.stderr


@pytest.mark.parametrize("server_url", ["http://127.0.0.1:9", "not-a-url"])
def test_pull_explains_an_unreachable_server(tmp_path: Path, server_url: str) -> None:
    pulled = _pull(server_url, "sk_x", tmp_path / "data", "SKU-1", tmp_path / "out")
    assert pulled.returncode == 1
    assert "cannot reach" in pulled.stderr and "Traceback" not in pulled.stderr
    assert not (tmp_path / "out").exists()
