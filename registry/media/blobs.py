"""Blob keys of uploaded originals and their dedup signatures, all content-addressed."""

from __future__ import annotations

from processing.fingerprint import ALGO_VERSION


def original_key(sha256: str) -> str:
    """Where the uploaded bytes with this SHA-256 are kept, exactly as received."""
    return f"originals/{sha256[:2]}/{sha256[2:4]}/{sha256}"


def signature_prefix(sha256: str) -> str:
    """Key prefix of the verification signatures computed from these bytes."""
    return f"signatures/{sha256[:2]}/{sha256}-v{ALGO_VERSION}"


def signature_key(prefix: str) -> str:
    """The colour signature (long side 256) under a prefix."""
    return prefix + ".png"


def detail_key(prefix: str) -> str:
    """The grey detail image (long side up to 1024) under a prefix."""
    return prefix + "-detail.png"
