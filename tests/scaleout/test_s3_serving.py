"""Serving variants from S3 (moto's server mode, a real HTTP endpoint): streamed through the API, or
redirected to a presigned URL or a CDN URL, as configured; large originals go up in multipart."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from api.app import create_app
from registry.runtime import Runtime
from tests.conftest import make_key, wait_for_jobs
from tests.scaleout.conftest import S3Bucket, Stack, runtime_for
from tests.scaleout.helpers import picture, servable, variant_rows
from workers.bootstrap import close_runtime

Serve = Callable[..., Any]


@pytest.fixture
def serve(s3_bucket: S3Bucket, tmp_path: Path) -> Iterator[Serve]:
    """Open the API (in-process jobs) on the test bucket with some settings changed."""
    opened: list[Runtime] = []

    @contextmanager
    def open_api(**values: str) -> Iterator[tuple[TestClient, Runtime, dict[str, str]]]:
        stack = Stack({
            "database_url": f"sqlite:///{tmp_path / 'registry.sqlite3'}",
            "data_dir": str(tmp_path / "data"),
            "broker_url": "",
            **s3_bucket.values,
            **values,
        })
        rt = runtime_for(stack)
        opened.append(rt)
        headers = {"Authorization": f"Bearer {make_key(rt, 'tenant-' + str(len(opened)), 'merchant')}"}
        with TestClient(create_app(runtime=rt)) as client:
            yield client, rt, headers

    try:
        yield open_api
    finally:
        for rt in opened:
            close_runtime(rt)


def _upload(client: TestClient, rt: Runtime, headers: dict[str, str], data: bytes) -> dict[str, Any]:
    response = client.post("/v1/media", headers=headers, files={"file": ("p.jpg", data, "image/jpeg")})
    assert response.status_code == 201, response.text
    wait_for_jobs(rt)
    asset: dict[str, Any] = client.get(f"/v1/media/{response.json()['asset_id']}", headers=headers).json()
    assert all(v["rendered"] or v["compliance"] == "fail" for v in asset["variants"])  # fail: too small, flagged
    return asset


def _variant(asset: dict[str, Any], profile: str) -> dict[str, Any]:
    return next(v for v in asset["variants"] if v["profile"] == profile)


def _stored(s3_bucket: S3Bucket, rt: Runtime, asset_id: str, profile: str) -> tuple[bytes, str]:
    row = next(r for r in variant_rows(rt, asset_id) if r.profile == profile)
    body = s3_bucket.client().get_object(Bucket=s3_bucket.bucket, Key=f"{s3_bucket.prefix}/{row.blob_key}")
    return body["Body"].read(), row.etag


def test_stream_delivery_sends_the_bytes_from_the_bucket(serve: Serve, s3_bucket: S3Bucket) -> None:
    with serve(variant_delivery="stream") as (client, rt, headers):
        asset = _upload(client, rt, headers, picture(501))
        assert set(s3_bucket.keys("variants/")) == {row.blob_key for row in variant_rows(rt, asset["asset_id"])}
        variant = _variant(asset, "web_thumb")
        path = httpx.URL(variant["url"]).path
        stored, etag = _stored(s3_bucket, rt, asset["asset_id"], "web_thumb")

        response = client.get(path)
        assert response.status_code == 200
        assert response.content == stored
        assert response.headers["content-type"] == "image/webp"
        assert response.headers["etag"] == f'"{etag}"'
        assert hashlib.sha256(response.content).hexdigest()[:32] == etag
        assert "immutable" in response.headers["cache-control"]

        head = client.head(path)
        assert head.status_code == 200 and head.content == b""
        assert int(head.headers["content-length"]) == len(stored)
        assert client.get(path, headers={"If-None-Match": f'"{etag}"'}).status_code == 304

        alias = client.get(httpx.URL(variant["alias_url"]).path, follow_redirects=False)
        assert alias.status_code == 302 and alias.headers["location"].endswith(path)


def test_redirect_delivery_sends_a_presigned_url_that_serves_the_bytes(serve: Serve, s3_bucket: S3Bucket) -> None:
    with serve(variant_delivery="redirect", presign_ttl_seconds="600", alias_max_age_seconds="30") as (
        client, rt, headers
    ):
        asset = _upload(client, rt, headers, picture(502, size=1600))  # Amazon main: 1000 px at least
        variant = _variant(asset, "amazon_main")
        stored, etag = _stored(s3_bucket, rt, asset["asset_id"], "amazon_main")

        response = client.get(httpx.URL(variant["url"]).path, follow_redirects=False)
        assert response.status_code == 302
        location = response.headers["location"]
        assert location.startswith(s3_bucket.endpoint + "/")
        assert "X-Amz-Signature=" in location and "X-Amz-Expires=600" in location
        # An edge may keep the redirect only briefly, well within the URL's own lifetime.
        assert response.headers["cache-control"] == "public, max-age=30"

        fetched = httpx.get(location, timeout=30)
        assert fetched.status_code == 200
        assert fetched.content == stored
        assert hashlib.sha256(fetched.content).hexdigest()[:32] == etag
        assert fetched.headers["content-type"] == "image/jpeg"


def test_cdn_delivery_redirects_to_the_cdn_copy_of_the_blob(serve: Serve, s3_bucket: S3Bucket) -> None:
    # The CDN's origin is the bucket itself, variants readable by anyone, originals private (docs/deploy.md).
    s3_bucket.client().put_bucket_policy(Bucket=s3_bucket.bucket, Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                       "Resource": f"arn:aws:s3:::{s3_bucket.bucket}/{s3_bucket.prefix}/variants/*"}],
    }))
    cdn = f"{s3_bucket.endpoint}/{s3_bucket.bucket}/{s3_bucket.prefix}"
    with serve(cdn_url=cdn + "/") as (client, rt, headers):
        asset = _upload(client, rt, headers, picture(503))
        stored, _etag = _stored(s3_bucket, rt, asset["asset_id"], "swatch")
        row = next(r for r in variant_rows(rt, asset["asset_id"]) if r.profile == "swatch")

        response = client.get(httpx.URL(_variant(asset, "swatch")["url"]).path, follow_redirects=False)
        assert response.status_code == 302
        assert response.headers["location"] == f"{cdn}/{row.blob_key}"
        assert httpx.get(response.headers["location"], timeout=30).content == stored
        master = asset["master"]["sha256"]
        original = f"{cdn}/originals/{master[:2]}/{master[2:4]}/{master}"
        assert httpx.get(original, timeout=30).status_code == 403


def test_a_large_original_goes_up_in_parts_and_renders(serve: Serve, s3_bucket: S3Bucket) -> None:
    noise = np.random.default_rng(7).integers(0, 255, size=(900, 1200, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise, "RGB").save(buffer, "PNG")
    data = buffer.getvalue()
    threshold = 1024 * 1024
    assert len(data) > threshold
    with serve(s3_multipart_threshold=str(threshold)) as (client, rt, headers):
        response = client.post("/v1/media", headers=headers, files={"file": ("noise.png", data, "image/png")})
        assert response.status_code == 201, response.text
        wait_for_jobs(rt)
        sha = hashlib.sha256(data).hexdigest()
        key = f"{s3_bucket.prefix}/originals/{sha[:2]}/{sha[2:4]}/{sha}"
        head = s3_bucket.client().head_object(Bucket=s3_bucket.bucket, Key=key, ChecksumMode="ENABLED")
        assert head["ContentLength"] == len(data)
        assert head["Metadata"]["sha256"] == sha
        assert "-" in head["ETag"], "a multipart upload's ETag names its part count"
        asset_id = response.json()["asset_id"]
        assert len(variant_rows(rt, asset_id)) == servable(rt, asset_id)
        # The exact same bytes again: nothing new is stored.
        before = s3_bucket.keys()
        again = client.post("/v1/media", headers=headers, files={"file": ("again.png", data, "image/png")})
        assert again.status_code == 200 and again.json()["dedup"] == "exact"
        assert s3_bucket.keys() == before
