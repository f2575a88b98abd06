"""The real nginx edge and hotlinks: concurrent misses reach the API once; X-Accel-Redirect offload."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.pictures import jpeg, noise
from tests.scaleout.conftest import (
    REPO,
    SKUPIX,
    ProcessSet,
    Stack,
    create_api_key,
    free_port,
    nginx_binary,
    start_api,
    start_edge,
    wait_until,
)
from tests.scaleout.helpers import picture

pytestmark = [pytest.mark.services, pytest.mark.slow]


def _stack(tmp_path: Path, **values: str) -> Stack:
    return Stack({
        "database_url": f"sqlite:///{tmp_path / 'registry.sqlite3'}",
        "data_dir": str(tmp_path / "data"),
        "storage_url": (tmp_path / "blobs").as_uri(),
        "broker_url": "",
        **values,
    })


def _rendered_variant(client: httpx.Client, headers: dict[str, str], seed: int, profile: str,
                      upload: bytes | None = None) -> dict[str, Any]:
    created = client.post("/v1/media", headers=headers,
                          files={"file": ("p.jpg", upload or picture(seed), "image/jpeg")})
    assert created.status_code == 201, created.text
    asset_id = created.json()["asset_id"]

    def rendered() -> dict[str, Any] | None:
        body: dict[str, Any] = client.get(f"/v1/media/{asset_id}", headers=headers).json()
        # a marketplace profile the picture is too small for is flagged ("fail") and never rendered
        return body if all(v["rendered"] or v["compliance"] == "fail" for v in body["variants"]) else None

    asset = wait_until(rendered, timeout=120, interval=0.5, what="variants rendered")
    found: dict[str, Any] = next(v for v in asset["variants"] if v["profile"] == profile)
    return found


def _access_lines(log: Path, path: str) -> list[dict[str, Any]]:
    lines = []
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("{") and '"rid"' in line:
            entry = json.loads(line)
            if entry["path"] == path:
                lines.append(entry)
    return lines


def test_concurrent_edge_misses_reach_the_api_once(procs: ProcessSet, tmp_path: Path) -> None:
    nginx_binary()
    stack = _stack(tmp_path)
    headers = {"Authorization": f"Bearer {create_api_key(stack, 'edge-hotlink')}"}
    api, api_url = start_api(procs, stack)
    edge = start_edge(procs, tmp_path / "edge", upstream=api_url.removeprefix("http://"))
    with httpx.Client(base_url=edge.url, timeout=60) as client:
        variant = _rendered_variant(client, headers, 611, "web_large")
    path = httpx.URL(variant["url"]).path

    def fetch(_: int) -> tuple[int, bytes, str]:
        answer = httpx.get(edge.url + path, timeout=60)
        return answer.status_code, answer.content, answer.headers["x-cache-status"]

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(fetch, range(20)))
    assert {status for status, _, _ in answers} == {200}
    assert len({body for _, body, _ in answers}) == 1
    assert sorted(state for _, _, state in answers).count("MISS") == 1  # the rest waited on the lock: HIT
    assert httpx.get(edge.url + "/metrics").status_code == 404  # scraped at the API processes, not published
    assert httpx.get(api_url + "/metrics").status_code == 200
    # The API's access log (one JSON line per request, flushed within a second) saw the URL once.
    wait_until(lambda: _access_lines(api.log_path, path), timeout=10, interval=0.5, what="access log")
    assert len(_access_lines(api.log_path, path)) == 1


@pytest.mark.parametrize("server", ["uvicorn", "granian"])
def test_offload_hands_the_file_to_nginx_with_the_api_headers(procs: ProcessSet, tmp_path: Path, server: str) -> None:
    nginx_binary()
    stack = _stack(tmp_path, accel_redirect_prefix="/_skupix_blobs/")
    headers = {"Authorization": f"Bearer {create_api_key(stack, 'edge-offload')}"}
    _api, api_url = start_api(procs, stack, server=server)
    edge = start_edge(procs, tmp_path / "edge", upstream=api_url.removeprefix("http://"),
                      blob_root=tmp_path / "blobs")
    with httpx.Client(base_url=edge.url, timeout=60) as client:
        variant = _rendered_variant(client, headers, 612, "web_thumb")
        path = httpx.URL(variant["url"]).path

        direct = httpx.get(api_url + path, timeout=30)  # the API alone answers with headers only
        assert direct.status_code == 200 and direct.content == b""
        assert direct.headers["content-length"] == "0"  # no body here: nginx counts the file's length
        assert direct.headers["x-accel-redirect"].startswith("/_skupix_blobs/variants/")

        served = client.get(path)
        assert served.status_code == 200
        assert served.content[:4] == b"RIFF"
        assert served.headers["content-length"] == str(len(served.content))
        strong = f'"{hashlib.sha256(served.content).hexdigest()[:32]}"'
        assert served.headers["etag"] == direct.headers["etag"] == strong
        assert served.headers["content-type"] == "image/webp"
        assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert served.headers["last-modified"] == direct.headers["last-modified"]
        assert served.headers["x-content-type-options"] == "nosniff"
        assert served.headers["access-control-allow-origin"] == "*"
        assert "x-accel-redirect" not in served.headers
        revalidated = client.get(path, headers={"If-None-Match": direct.headers["etag"]})
        assert revalidated.status_code == 304 and revalidated.content == b""
        assert revalidated.headers["etag"] == direct.headers["etag"]
        partial = client.get(path, headers={"Range": "bytes=0-9"})  # ranges are answered by the API itself
        assert partial.status_code == 206 and partial.content == served.content[:10]
        # Nothing else under the blob folder can be asked for from outside.
        assert client.get("/_skupix_blobs/variants/" + direct.headers["x-accel-redirect"].split("/variants/")[1]
                          ).status_code == 404


def test_revoking_an_asset_replaces_its_cached_urls_on_the_edge(procs: ProcessSet, tmp_path: Path) -> None:
    nginx_binary()
    edge_port = free_port()
    stack = _stack(tmp_path, purge_urls=f"http://127.0.0.1:{edge_port}", purge_token="edge-tests-purge-token")
    headers = {"Authorization": f"Bearer {create_api_key(stack, 'edge-revoke')}"}
    _api, api_url = start_api(procs, stack)
    edge = start_edge(procs, tmp_path / "edge", upstream=api_url.removeprefix("http://"), port=edge_port)
    with httpx.Client(base_url=edge.url, timeout=60) as client:
        variant = _rendered_variant(client, headers, 613, "web_thumb")
        path = httpx.URL(variant["url"]).path
        assert [client.get(path).headers["x-cache-status"] for _ in range(2)] == ["MISS", "HIT"]
        negotiated = f"/v/{variant['url'].split('/')[4]}/web_thumb"
        chrome = {"Accept": "image/avif,image/webp,*/*;q=0.8"}
        assert [client.get(negotiated, headers=chrome).headers["x-cache-status"] for _ in range(2)] == ["MISS", "HIT"]
        # Only the right token skips the cache.
        assert client.get(path, headers={"X-Skupix-Purge": "guess"}).headers["x-cache-status"] == "HIT"
        assert client.get(path, headers={"X-Skupix-Purge": "edge-tests-purge-token"}
                          ).headers["x-cache-status"] == "BYPASS"

        revoked = client.post(f"/v1/hotlink/revoke/{variant['url'].split('/')[4]}", headers=headers)
        assert revoked.status_code == 200 and revoked.json()["purge_job"], revoked.text
        assert httpx.get(api_url + path, timeout=30).status_code == 410  # the API at once

        # the purge is an outbox job run after the commit: the edge's copies are replaced soon after (the
        # negotiated URLs are the last it refreshes)
        replaced = wait_until(lambda: (lambda r: r if r.status_code == 410 else None)(client.get(negotiated,
                                                                                                headers=chrome)),
                              timeout=60, interval=0.2, what="the edge's copies replaced by the purge job")
        assert replaced.headers["x-cache-status"] == "HIT"  # the 410 itself is what the edge now keeps
        gone = client.get(path)
        assert gone.status_code == 410 and gone.headers["x-cache-status"] == "HIT"
        assert client.get(httpx.URL(variant["alias_url"]).path).status_code == 410


def test_negotiated_urls_are_cached_once_per_format_class(procs: ProcessSet, tmp_path: Path) -> None:
    nginx_binary()
    stack = _stack(tmp_path)
    headers = {"Authorization": f"Bearer {create_api_key(stack, 'edge-negotiation')}"}
    _api, api_url = start_api(procs, stack)
    edge = start_edge(procs, tmp_path / "edge", upstream=api_url.removeprefix("http://"))
    with httpx.Client(base_url=edge.url, timeout=60) as client:
        variant = _rendered_variant(client, headers, 614, "avif_thumb")  # every profile rendered, AVIF too
        url = f"/v/{variant['url'].split('/')[4]}/web_thumb"
        seen = []
        for accept in ("image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8",
                       "image/avif,image/webp,*/*",  # another browser, same class: the same cached copy
                       "image/webp,image/png,image/*;q=0.8,*/*;q=0.5",
                       "image/webp,*/*;q=0.8",
                       "*/*"):
            answer = client.get(url, headers={"Accept": accept})
            assert answer.status_code == 200, answer.text
            assert answer.headers["vary"] == "Accept"
            seen.append((answer.headers["content-type"], answer.headers["x-cache-status"]))
    assert seen == [("image/avif", "MISS"), ("image/avif", "HIT"), ("image/webp", "MISS"), ("image/webp", "HIT"),
                    ("image/webp", "MISS")]


def _cached_files(cache: Path) -> dict[bytes, tuple[int, bytes, bytes]]:
    """Each cached answer of the edge by its key: where its body starts in the file, the answer head, the body."""
    found = {}
    for file in cache.rglob("*"):
        if file.is_file() and not file.name.startswith("."):
            data = file.read_bytes()
            # ngx_http_file_cache_header_t: six 8-byte fields, crc32, valid_msec, header_start, body_start, …
            header_start = int.from_bytes(data[54:56], "little")
            body_start = int.from_bytes(data[56:58], "little")
            key = data[336:].split(b"\n", 2)[1].removeprefix(b"KEY: ")
            assert header_start == 336 + len(b"\nKEY: ") + len(key) + 1  # the size the API counts on
            found[key] = (body_start, data[header_start:body_start], data[body_start:])
    return found


@pytest.mark.parametrize("server", ["uvicorn", "granian"])
def test_the_edge_keeps_large_cached_bodies_on_page_boundaries(procs: ProcessSet, tmp_path: Path,
                                                               server: str) -> None:
    stack = _stack(tmp_path)
    headers = {"Authorization": f"Bearer {create_api_key(stack, 'edge-align')}"}
    _api, api_url = start_api(procs, stack, server=server)
    edge = start_edge(procs, tmp_path / "edge", upstream=api_url.removeprefix("http://"))
    netloc = httpx.URL(edge.url).netloc.decode()
    with httpx.Client(base_url=edge.url, timeout=60) as client:
        unshrinkable = jpeg(noise((700, 700), 613), 90)  # its web_large variant stays large
        large = httpx.URL(_rendered_variant(client, headers, 613, "web_large", unshrinkable)["url"]).path
        small = httpx.URL(_rendered_variant(client, headers, 614, "web_large")["url"]).path
        negotiated = f"/v/{large.split('/')[2]}/web_large"
        answers = {
            f"http://{netloc}{large}": client.get(large),
            f"http://images.example.com.br{large}": client.get(large, headers={"Host": "images.example.com.br"}),
            f"http://{netloc}{negotiated}|webp": client.get(negotiated, headers={"Accept": "image/webp,*/*"}),
            f"http://{netloc}{small}": client.get(small),
        }
    assert all(answer.status_code == 200 and "x-skupix-pad" not in answer.headers for answer in answers.values())
    cached = _cached_files(tmp_path / "edge" / "cache")
    assert {key.encode() for key in answers} <= set(cached), sorted(cached)
    for key, answer in answers.items():
        body_start, head, body = cached[key.encode()]
        assert body == answer.content, key
        if key.endswith(small):  # a file within 15 pages: sendfile costs no more off a page, so no filler to parse
            assert body_start + len(body) <= 15 * 4096 and b"x-skupix-pad" not in head, (key, body_start)
        else:  # sendfile from a page boundary
            assert len(body) > 15 * 4096 and body_start % 4096 == 0 and b"x-skupix-pad" in head, (key, body_start)


def test_edge_cache_hits_are_counted_by_skupix_edge_usage(procs: ProcessSet, tmp_path: Path) -> None:
    stack = _stack(tmp_path)
    headers = {"Authorization": f"Bearer {create_api_key(stack, 'edge-usage')}"}
    # the API's own count (the edge's miss) stays in its memory here: what /v1/stats shows is the edge's
    _api, api_url = start_api(procs, stack, SKUPIX_USAGE_FLUSH_SECONDS="3600")
    edge = start_edge(procs, tmp_path / "edge", upstream=api_url.removeprefix("http://"))
    shop = {"Referer": "https://loja.example.com.br/p/9"}
    with httpx.Client(base_url=edge.url, timeout=60) as client:
        path = httpx.URL(_rendered_variant(client, headers, 614, "web_thumb")["url"]).path
        answers = [client.get(path, headers=shop) for _ in range(4)]
        negotiated = "/".join(path.split("/")[:4])  # /v/{asset}/web_thumb: AVIF to a browser that takes it
        chosen = [client.get(negotiated, headers={"Accept": "image/avif,image/webp,*/*"}) for _ in range(3)]
    assert [a.headers["x-cache-status"] for a in answers] == ["MISS", "HIT", "HIT", "HIT"]
    assert [(a.headers["content-type"], a.headers["x-cache-status"]) for a in chosen] == [
        ("image/avif", "MISS"), ("image/avif", "HIT"), ("image/avif", "HIT")]
    # every answer its own request id, a cached one too
    assert len({a.headers["x-request-id"] for a in answers + chosen}) == 7
    log = tmp_path / "edge" / "usage.jsonl"  # SKUPIX_EDGE_USAGE_LOG, written in batches (flush=1s)
    wait_until(lambda: log.exists() and log.read_text(encoding="utf-8").count(negotiated) >= 7, timeout=15,
               interval=0.2, what="the edge's usage log")

    def edge_usage() -> str:
        done = subprocess.run([SKUPIX, "edge-usage", str(log)], env=stack.env(), cwd=REPO, capture_output=True,
                              text=True, timeout=120, check=True)
        return done.stdout + done.stderr

    assert "5 cache hit(s) counted" in edge_usage()
    assert "0 cache hit(s) counted" in edge_usage()  # read once: nothing counted twice
    stats = httpx.get(api_url + "/v1/stats", headers=headers, timeout=30).json()
    [asset] = [a for a in stats["assets"] if a["asset_id"] == path.split("/")[2]]
    assert asset["hits"] == 5 and asset["sites"] == ["loja.example.com.br"]
    # the negotiated URL's hits count under what it served, as the API counts them
    with sqlite3.connect(tmp_path / "registry.sqlite3") as db:
        by_profile = dict(db.execute("SELECT profile, SUM(hits) FROM variant_hits GROUP BY profile"))
    assert by_profile == {"web_thumb": 3, "avif_thumb": 2}
