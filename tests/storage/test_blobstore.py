"""One contract, every backend: local folder and S3 (moto over real HTTP)."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from storage import BlobInfo, BlobNotFound, BlobStore, StorageError, open_store
from storage.base import ChecksumMismatch
from storage.local import LocalBlobStore
from storage.s3 import S3BlobStore
from tests.storage.conftest import MULTIPART_THRESHOLD, Backend, S3Endpoint, make_s3_store

KEY = "blobs/ab/abcdef0123456789"
DATA = b"\x89PNG fake image bytes \x00\x01\x02" * 100


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_backends_meet_the_protocol(store: BlobStore) -> None:
    assert isinstance(store, BlobStore)


def test_put_if_absent_creates_once_and_never_overwrites(store: BlobStore) -> None:
    assert store.put_if_absent(KEY, DATA, "image/png") is True
    assert store.put_if_absent(KEY, b"something else entirely", "text/plain") is False
    assert store.get(KEY) == DATA
    info = store.head(KEY)
    assert info == BlobInfo(key=KEY, size=len(DATA), sha256=_sha(DATA), content_type="image/png")


def test_get_missing_raises_blob_not_found(store: BlobStore) -> None:
    with pytest.raises(BlobNotFound):
        store.get("blobs/00/missing")
    assert issubclass(BlobNotFound, StorageError)


def test_head(store: BlobStore) -> None:
    assert store.head(KEY) is None
    store.put_if_absent(KEY, DATA, "image/webp")
    info = store.head(KEY)
    assert info is not None
    assert (info.key, info.size, info.sha256, info.content_type) == (KEY, len(DATA), _sha(DATA), "image/webp")


def test_empty_blob(store: BlobStore) -> None:
    assert store.put_if_absent("empty", b"", "application/octet-stream")
    assert store.get("empty") == b""
    info = store.head("empty")
    assert info is not None
    assert (info.size, info.sha256) == (0, _sha(b""))


def test_get_range(store: BlobStore) -> None:
    data = bytes(range(256)) * 40
    store.put_if_absent(KEY, data, "application/octet-stream")
    assert store.get_range(KEY, 0, 9) == data[:10]
    assert store.get_range(KEY, 1000, 1000) == data[1000:1001]
    assert store.get_range(KEY, 5000, 6000) == data[5000:6001]
    assert store.get_range(KEY, len(data) - 5, len(data) + 100) == data[-5:]  # end clamps to the size
    assert store.get_range(KEY, len(data), len(data) + 10) == b""  # nothing past the end
    with pytest.raises(ValueError):
        store.get_range(KEY, 10, 9)
    with pytest.raises(ValueError):
        store.get_range(KEY, -1, 9)
    with pytest.raises(BlobNotFound):
        store.get_range("blobs/00/missing", 0, 9)


def test_iter_chunks(store: BlobStore) -> None:
    data = os.urandom(300_000)
    store.put_if_absent(KEY, data, "application/octet-stream")
    chunks = list(store.iter_chunks(KEY, chunk_size=64 * 1024))
    assert b"".join(chunks) == data
    assert len(chunks) >= 5
    assert all(len(chunk) <= 64 * 1024 for chunk in chunks)
    with pytest.raises(BlobNotFound):
        list(store.iter_chunks("blobs/00/missing"))


def test_delete(store: BlobStore) -> None:
    store.put_if_absent(KEY, DATA, "image/png")
    store.delete(KEY)
    assert store.head(KEY) is None
    with pytest.raises(BlobNotFound):
        store.get(KEY)
    store.delete(KEY)  # deleting what is not there is fine
    store.delete("blobs/00/never-existed")
    assert store.put_if_absent(KEY, b"new life", "text/plain") is True
    assert store.get(KEY) == b"new life"
    info = store.head(KEY)
    assert info is not None
    assert (info.sha256, info.content_type) == (_sha(b"new life"), "text/plain")


@pytest.mark.parametrize(
    "key",
    [
        "",
        "/etc/passwd",
        "../escape",
        "a/../../b",
        "a/../b",
        "a//b",
        "a/./b",
        "./a",
        "a/",
        "a\\b",
        "nul\x00byte",
    ],
)
def test_invalid_keys_are_refused(store: BlobStore, key: str) -> None:
    with pytest.raises(ValueError):
        store.put_if_absent(key, DATA, "image/png")
    with pytest.raises(ValueError):
        store.get(key)
    with pytest.raises(ValueError):
        store.head(key)
    with pytest.raises(ValueError):
        store.delete(key)
    with pytest.raises(ValueError):
        store.get_range(key, 0, 1)


def test_unusual_but_valid_keys(store: BlobStore) -> None:
    for key in ("sku 42/front view.jpg", "loja-são-paulo/東京.png", "a.b/..c/d..", "deep/" * 10 + "leaf"):
        assert store.put_if_absent(key, key.encode(), "text/plain"), key
        assert store.get(key) == key.encode()


def test_large_object(backend: Backend) -> None:
    store = backend.store
    data = os.urandom(17 * 1024 * 1024)  # > threshold: three parts of 8 + 8 + 1 MiB on S3
    assert store.put_if_absent("big/object", data, "video/mp4") is True
    assert store.get("big/object") == data
    info = store.head("big/object")
    assert info is not None
    assert (info.size, info.sha256) == (len(data), _sha(data))
    assert (
        store.get_range("big/object", 9 * 1024 * 1024, 9 * 1024 * 1024 + 99)
        == data[9 << 20 : (9 << 20) + 100]
    )
    assert store.put_if_absent("big/object", os.urandom(6 * 1024 * 1024), "video/mp4") is False
    assert store.get("big/object") == data
    if isinstance(store, S3BlobStore):
        raw = store.client.head_object(Bucket=store.bucket, Key=f"{store.prefix}/big/object")
        assert raw["ETag"].strip('"').endswith("-3"), "the upload must have gone multipart"
        assert not store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads")


def test_losing_multipart_upload_leaves_nothing_behind(s3_endpoint: S3Endpoint) -> None:
    store = make_s3_store(s3_endpoint)
    big = os.urandom(MULTIPART_THRESHOLD + 1024)
    store.put_if_absent("race/big", b"small winner", "text/plain")
    # bypass the early head() check to reach CompleteMultipartUpload's If-None-Match
    store._put_multipart(store._key("race/other"), big, "text/plain", {"sha256": _sha(big)})
    with pytest.raises(Exception, match="PreconditionFailed|412"):
        store._put_multipart(store._key("race/big"), big, "text/plain", {"sha256": _sha(big)})
    assert store.get("race/big") == b"small winner"
    assert not store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads")


def test_checksum_mismatch_is_detected(backend: Backend) -> None:
    store = backend.store
    store.put_if_absent(KEY, DATA, "image/png")
    backend.overwrite_raw(KEY, DATA[:-1] + b"X")
    with pytest.raises(ChecksumMismatch):
        store.get(KEY)
    assert issubclass(ChecksumMismatch, StorageError)


@pytest.mark.parametrize("round_", range(3))
def test_concurrent_put_if_absent_has_exactly_one_winner(store: BlobStore, round_: int) -> None:
    key = f"race/{round_}"
    payloads = [f"writer {i} ".encode() * (i + 1) for i in range(8)]
    results: list[tuple[int, bool]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(payloads))

    def writer(index: int) -> None:
        barrier.wait()
        try:
            results.append((index, store.put_if_absent(key, payloads[index], f"text/x-{index}")))
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(len(payloads))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    winners = [index for index, created in results if created]
    assert len(winners) == 1, results
    winner = winners[0]
    # the stored bytes and their recorded facts are the winner's, not a loser's
    assert store.get(key) == payloads[winner]
    assert store.head(key) == BlobInfo(key, len(payloads[winner]), _sha(payloads[winner]), f"text/x-{winner}")


def test_presigned_url(backend: Backend) -> None:
    store = backend.store
    store.put_if_absent(KEY, DATA, "image/png")
    url = store.presigned_url(KEY, 300)
    if backend.name == "local":
        assert url is None
        return
    assert url is not None
    query = parse_qs(urlparse(url).query)
    assert query.get("X-Amz-Algorithm") == ["AWS4-HMAC-SHA256"], "presign with SigV4"
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200
    assert response.content == DATA
    # (moto does not check signatures, so a tampered URL cannot be tested against it)


# --- backend specifics --------------------------------------------------------------------------


def test_local_reserved_folders_are_not_keys(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    for key in (".meta/x.json", ".tmp/x", ".locks/00.lock"):
        with pytest.raises(ValueError):
            store.put_if_absent(key, b"x", "text/plain")


def test_local_leaves_no_temporary_files(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    store.put_if_absent("a/b", b"one", "text/plain")
    store.put_if_absent("a/b", b"two", "text/plain")
    assert list((tmp_path / ".tmp").iterdir()) == []


def test_local_blob_without_sidecar_still_reads(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    store.put_if_absent("a/b", b"payload", "text/plain")
    (tmp_path / ".meta" / "a" / "b.json").unlink()
    assert store.get("a/b") == b"payload"
    info = store.head("a/b")
    assert info is not None
    assert info.sha256 == _sha(b"payload")


def test_s3_prefixes_keep_tenants_apart(s3_endpoint: S3Endpoint) -> None:
    first = make_s3_store(s3_endpoint, prefix="tenant-a")
    second = S3BlobStore(first.bucket, "tenant-b", client=first.client)
    first.put_if_absent(KEY, b"a", "text/plain")
    assert second.head(KEY) is None
    assert second.put_if_absent(KEY, b"b", "text/plain") is True
    assert (first.get(KEY), second.get(KEY)) == (b"a", b"b")


# --- open_store ---------------------------------------------------------------------------------


def test_open_store_file_url(tmp_path: Path) -> None:
    root = tmp_path / "with space" / "blobs"
    store = open_store(root.as_uri())
    assert isinstance(store, LocalBlobStore)
    assert store.root == root
    assert store.put_if_absent("x", b"1", "text/plain")
    assert (root / "x").read_bytes() == b"1"
    assert isinstance(open_store(f"file://localhost{tmp_path}/other"), LocalBlobStore)


def test_open_store_s3_url(s3_endpoint: S3Endpoint) -> None:
    bucket = make_s3_store(s3_endpoint).bucket
    store = open_store(
        f"s3://{bucket}/tenant/media/",
        endpoint_url=s3_endpoint.url,
        access_key_id="skupix-test-key",
        secret_access_key="skupix-test-secret",
        multipart_threshold=MULTIPART_THRESHOLD,
    )
    assert isinstance(store, S3BlobStore)
    assert (store.bucket, store.prefix, store.multipart_threshold) == (
        bucket,
        "tenant/media",
        MULTIPART_THRESHOLD,
    )
    assert store.put_if_absent("k", b"v", "text/plain")
    assert store.client.get_object(Bucket=bucket, Key="tenant/media/k")["Body"].read() == b"v"


@pytest.mark.parametrize(
    "url",
    [
        "",
        "/var/lib/skupix",
        "relative/path",
        "gs://bucket/x",
        "http://example.invalid/x",
        "s3://",
        "s3:///prefix",
        "file://data/blobs",
        "file:",
    ],
)
def test_open_store_bad_url(url: str) -> None:
    with pytest.raises(ValueError):
        open_store(url)
