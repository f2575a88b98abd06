"""The nginx edge (infra/nginx/skupix-edge.conf.template, run by the real nginx) in front of the API:
variant responses are cached as the API's Cache-Control says, everything else passes through."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.scaleout.conftest import (
    ProcessSet,
    Stack,
    create_api_key,
    nginx_binary,
    start_api,
    start_edge,
    wait_until,
)
from tests.scaleout.helpers import picture

pytestmark = [pytest.mark.services, pytest.mark.slow]

ALIAS_MAX_AGE = 3


def _noise_png(seed: int) -> bytes:
    buffer = io.BytesIO()
    noise = np.random.default_rng(seed).integers(0, 255, size=(900, 1200, 3), dtype=np.uint8)
    Image.fromarray(noise, "RGB").save(buffer, "PNG")
    return buffer.getvalue()


def test_the_edge_caches_variants_and_serves_them_with_the_api_stopped(procs: ProcessSet, tmp_path: Path) -> None:
    nginx_binary()  # skip (or fail in CI) before starting anything when nginx is missing
    stack = Stack({
        "database_url": f"sqlite:///{tmp_path / 'registry.sqlite3'}",
        "data_dir": str(tmp_path / "data"),
        "storage_url": (tmp_path / "blobs").as_uri(),
        "broker_url": "",
        "alias_max_age_seconds": str(ALIAS_MAX_AGE),
    })
    headers = {"Authorization": f"Bearer {create_api_key(stack, 'edge-tests')}"}
    api, api_url = start_api(procs, stack)
    edge = start_edge(procs, tmp_path / "edge", upstream=api_url.removeprefix("http://"))

    with httpx.Client(base_url=edge.url, timeout=60) as client:
        # Uploads pass through uncached, bodies well above nginx's 1 MiB default included.
        big = _noise_png(1)
        assert len(big) > 2 * 1024 * 1024
        for data, name in ((picture(601), "p.jpg"), (big, "noise.png")):
            response = client.post("/v1/media", headers=headers, files={"file": (name, data, "image/png")})
            assert response.status_code == 201, response.text
            assert "x-cache-status" not in response.headers
        asset_id = response.json()["asset_id"]

        def rendered() -> dict[str, Any] | None:
            body: dict[str, Any] = client.get(f"/v1/media/{asset_id}", headers=headers).json()
            # a marketplace profile the picture is too small for is flagged ("fail"), never rendered
            return body if all(v["rendered"] or v["compliance"] == "fail" for v in body["variants"]) else None

        asset = wait_until(rendered, timeout=120, interval=0.5, what="variants rendered")
        variant = next(v for v in asset["variants"] if v["profile"] == "web_thumb")
        # Links are built for the edge's address (nginx passes the Host on).
        assert variant["url"].startswith(edge.url + "/v/")
        path = httpx.URL(variant["url"]).path

        first = client.get(path)
        assert first.status_code == 200
        assert first.headers["x-cache-status"] == "MISS"
        assert "immutable" in first.headers["cache-control"]
        second = client.get(path)
        assert second.headers["x-cache-status"] == "HIT"
        assert second.content == first.content and second.headers["etag"] == first.headers["etag"]
        assert client.get(path, headers={"If-None-Match": first.headers["etag"]}).status_code == 304

        # Errors carry no Cache-Control and are never cached.
        missing = f"/v/{asset_id}/web_thumb/00000000000000000000.webp"
        assert [client.get(missing).headers["x-cache-status"] for _ in range(2)] == ["MISS", "MISS"]

        # Alias redirects are cached for their max-age and no longer.
        alias = httpx.URL(variant["alias_url"]).path
        redirect = client.get(alias)
        assert redirect.status_code == 302 and redirect.headers["location"] == variant["url"]
        assert redirect.headers["cache-control"] == f"public, max-age={ALIAS_MAX_AGE}"
        assert redirect.headers["x-cache-status"] == "MISS"
        wait_until(lambda: client.get(alias).headers["x-cache-status"] == "EXPIRED", timeout=ALIAS_MAX_AGE * 5,
                   interval=0.5, what="the cached alias to expire")

        # With the API gone, cached variants are still served from the edge; nothing else is.
        api.kill()
        cached = client.get(path)
        assert cached.status_code == 200
        assert cached.headers["x-cache-status"] == "HIT"
        assert cached.content == first.content
        # The alias is served from the edge until its max-age runs out, then fails: never served stale.
        seen: list[tuple[int, str]] = []

        def alias_gone() -> bool:
            answer = client.get(alias)
            seen.append((answer.status_code, answer.headers.get("x-cache-status", "")))
            return answer.status_code == 502

        wait_until(alias_gone, timeout=ALIAS_MAX_AGE * 5, interval=0.5, what="the alias to expire without the API")
        assert all(status == (302, "HIT") for status in seen[:-1]), seen
        gone = client.post("/v1/media", headers=headers, files={"file": ("p.jpg", picture(602), "image/jpeg")})
        assert gone.status_code == 502
