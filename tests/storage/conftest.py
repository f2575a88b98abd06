"""Blob-store fixtures: every backend behind one `store` fixture; S3 is a real HTTP moto server."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer

from storage.base import BlobStore
from storage.local import LocalBlobStore
from storage.s3 import S3BlobStore

ACCESS_KEY = "skupix-test-key"
SECRET_KEY = "skupix-test-secret"
REGION = "us-east-1"
# Smallest part S3 allows; the store's own part size (8 MiB) is above it.
MULTIPART_THRESHOLD = 5 * 1024 * 1024


@dataclass(frozen=True)
class S3Endpoint:
    """A running S3-compatible HTTP endpoint on loopback."""

    url: str


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[S3Endpoint]:
    """moto in server mode on a free loopback port, for the whole session."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield S3Endpoint(f"http://{host}:{port}")
    finally:
        server.stop()


def make_s3_store(endpoint: S3Endpoint, *, prefix: str = "tenant-a/media") -> S3BlobStore:
    """A store on a fresh bucket, so tests never see each other's objects."""
    store = S3BlobStore(
        f"skupix-{uuid.uuid4().hex[:12]}",
        prefix,
        endpoint_url=endpoint.url,
        region=REGION,
        access_key_id=ACCESS_KEY,
        secret_access_key=SECRET_KEY,
        multipart_threshold=MULTIPART_THRESHOLD,
    )
    store.ensure_bucket()
    return store


@dataclass
class Backend:
    """A store under test plus a way to change its stored bytes without going through it."""

    name: str
    store: BlobStore
    overwrite_raw: Callable[[str, bytes], None]


def _local_backend(root: Path) -> Backend:
    store = LocalBlobStore(root)

    def overwrite_raw(key: str, data: bytes) -> None:
        (root / key).write_bytes(data)  # bit rot on disk; the sidecar keeps the old SHA-256

    return Backend("local", store, overwrite_raw)


def _s3_backend(endpoint: S3Endpoint) -> Backend:
    store = make_s3_store(endpoint)
    raw = store.client

    def overwrite_raw(key: str, data: bytes) -> None:
        object_key = f"{store.prefix}/{key}"
        old = raw.head_object(Bucket=store.bucket, Key=object_key)
        raw.put_object(  # unconditional overwrite that keeps the old object's metadata (its sha256)
            Bucket=store.bucket,
            Key=object_key,
            Body=data,
            ContentType=old["ContentType"],
            Metadata=old["Metadata"],
        )

    return Backend("s3", store, overwrite_raw)


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """Each blob-store test runs against every backend."""
    if request.param == "local":
        return _local_backend(tmp_path / "blobs")
    endpoint: S3Endpoint = request.getfixturevalue("s3_endpoint")
    return _s3_backend(endpoint)


@pytest.fixture
def store(backend: Backend) -> BlobStore:
    """The store of the current backend."""
    return backend.store
