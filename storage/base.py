"""The blob-store contract every backend meets, checked by one shared test suite."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


class StorageError(Exception):
    """A blob store failed in a way the caller cannot fix by changing its input."""


class BlobNotFound(StorageError):
    """No blob is stored under the key."""


class ChecksumMismatch(StorageError):
    """Stored bytes no longer match the SHA-256 recorded when they were written."""


@dataclass(frozen=True)
class BlobInfo:
    """What a store knows about one blob without reading it."""

    key: str
    size: int
    sha256: str
    content_type: str


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def validate_key(key: str) -> str:
    """Reject keys that could escape the store's namespace."""
    if not key or key.startswith("/") or "\\" in key or "\x00" in key:
        raise ValueError(f"invalid blob key: {key!r}")
    if any(part in ("", ".", "..") for part in key.split("/")):
        raise ValueError(f"invalid blob key: {key!r}")
    return key


@runtime_checkable
class BlobStore(Protocol):
    """Content-addressed friendly storage: writes are create-if-absent and never overwrite."""

    def put_if_absent(self, key: str, data: bytes, content_type: str) -> bool:
        """Store `data` under `key` unless a blob is already there; True when this call created it."""
        ...

    def get(self, key: str) -> bytes:
        """All bytes of the blob, checked against its recorded SHA-256."""
        ...

    def get_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes start..end inclusive."""
        ...

    def iter_chunks(self, key: str, chunk_size: int = 256 * 1024) -> Iterator[bytes]:
        """Stream the blob in chunks."""
        ...

    def head(self, key: str) -> BlobInfo | None:
        """Facts about the blob, or None when absent."""
        ...

    def delete(self, key: str) -> None:
        """Remove the blob; absent blobs are not an error."""
        ...

    def presigned_url(self, key: str, expires_in: int) -> str | None:
        """A time-limited direct URL, or None when the backend cannot make one."""
        ...
