"""Blob store on a local folder: atomic create-if-absent through hard links."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from storage.base import BlobInfo, BlobNotFound, ChecksumMismatch, sha256_hex, validate_key

# Folders of the store's own bookkeeping; no blob key may start with one of them.
_RESERVED = frozenset({".tmp", ".meta", ".locks"})
_LOCK_STRIPES = 64


class LocalBlobStore:
    """Blobs as files under `root`; metadata in a sidecar written before the blob appears."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._tmp = self.root / ".tmp"
        self._tmp.mkdir(exist_ok=True)
        self._locks = self.root / ".locks"
        self._locks.mkdir(exist_ok=True)

    def _path(self, key: str) -> Path:
        validate_key(key)
        if key.split("/", 1)[0] in _RESERVED:
            raise ValueError(f"invalid blob key: {key!r} names the store's own bookkeeping")
        return self.root / key

    @contextlib.contextmanager
    def _locked(self, key: str) -> Iterator[None]:
        """Serialise writers of one key (across threads and processes) with a striped flock."""
        stripe = int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") % _LOCK_STRIPES
        with (self._locks / f"{stripe:02d}.lock").open("a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _meta_path(self, key: str) -> Path:
        return self.root / ".meta" / (validate_key(key) + ".json")

    def put_if_absent(self, key: str, data: bytes, content_type: str) -> bool:
        """Store `data` under `key` unless present; True when this call created it."""
        path = self._path(key)
        if path.exists():
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        meta_path = self._meta_path(key)
        meta_path.parent.mkdir(parents=True, exist_ok=True)
        meta = {"sha256": sha256_hex(data), "size": len(data), "content_type": content_type}
        fd, tmp_name = tempfile.mkstemp(dir=self._tmp)
        meta_tmp = tmp_name + ".meta"
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            Path(meta_tmp).write_text(json.dumps(meta), encoding="utf-8")
            # The sidecar must describe the bytes that win: a losing writer may not replace the
            # winner's metadata, so the check, the sidecar and the link happen under one lock.
            with self._locked(key):
                if path.exists():
                    return False
                os.replace(meta_tmp, meta_path)
                try:
                    os.link(tmp_name, path)  # fails if the blob is there anyway: never overwrite
                except FileExistsError:
                    return False
            return True
        finally:
            for leftover in (tmp_name, meta_tmp):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(leftover)

    def _meta(self, key: str, path: Path) -> dict[str, object]:
        try:
            return dict(json.loads(self._meta_path(key).read_text(encoding="utf-8")))
        except (FileNotFoundError, ValueError):
            data = path.read_bytes()
            return {"sha256": sha256_hex(data), "size": len(data), "content_type": "application/octet-stream"}

    def get(self, key: str) -> bytes:
        """All bytes, verified against the recorded SHA-256."""
        path = self._path(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise BlobNotFound(key) from exc
        expected = self._meta(key, path).get("sha256")
        if expected and sha256_hex(data) != expected:
            raise ChecksumMismatch(f"{key}: stored bytes do not match their SHA-256")
        return data

    def get_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes start..end inclusive."""
        path = self._path(key)
        if start < 0 or end < start:
            raise ValueError(f"invalid byte range {start}-{end}")
        try:
            with path.open("rb") as handle:
                handle.seek(start)
                return handle.read(max(0, end - start + 1))
        except FileNotFoundError as exc:
            raise BlobNotFound(key) from exc

    def iter_chunks(self, key: str, chunk_size: int = 256 * 1024) -> Iterator[bytes]:
        """Stream the blob in chunks."""
        path = self._path(key)
        try:
            handle = path.open("rb")
        except FileNotFoundError as exc:
            raise BlobNotFound(key) from exc
        with handle:
            while chunk := handle.read(chunk_size):
                yield chunk

    def head(self, key: str) -> BlobInfo | None:
        """Facts about the blob, or None when absent."""
        path = self._path(key)
        if not path.exists():
            return None
        meta = self._meta(key, path)
        return BlobInfo(
            key=key,
            size=path.stat().st_size,
            sha256=str(meta.get("sha256", "")),
            content_type=str(meta.get("content_type", "application/octet-stream")),
        )

    def delete(self, key: str) -> None:
        """Remove the blob and its metadata."""
        path = self._path(key)
        with self._locked(key):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            with contextlib.suppress(FileNotFoundError):
                self._meta_path(key).unlink()

    def presigned_url(self, key: str, expires_in: int) -> str | None:
        """Local folders have no direct URLs."""
        return None
