"""Pick a blob-store backend from a URL: file:///path or s3://bucket/prefix."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from storage.base import BlobStore
from storage.local import LocalBlobStore
from storage.s3 import S3BlobStore


def open_store(
    url: str,
    *,
    endpoint_url: str | None = None,
    region: str = "us-east-1",
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    multipart_threshold: int = 8 * 1024 * 1024,
) -> BlobStore:
    """Build the blob store a storage URL names."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        # file://data/blobs would put "data" in the host part and write to /blobs: refuse it.
        if parsed.netloc not in ("", "localhost") or not parsed.path:
            raise ValueError(f"a file:// storage URL needs an absolute path: file:///path, not {url!r}")
        return LocalBlobStore(Path(unquote(parsed.path)))
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ValueError("an s3:// storage URL needs a bucket: s3://bucket/prefix")
        return S3BlobStore(
            parsed.netloc,
            parsed.path.strip("/"),
            endpoint_url=endpoint_url,
            region=region,
            access_key_id=access_key_id,
            secret_access_key=secret_access_key,
            multipart_threshold=multipart_threshold,
        )
    raise ValueError(f"unsupported storage URL {url!r}: use file:///path or s3://bucket/prefix")
