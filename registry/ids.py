"""Identifiers: a readable prefix plus a ULID, so ids sort by creation time."""

from __future__ import annotations

from ulid import ULID


def new_id(prefix: str) -> str:
    """A new identifier such as ast_01J9Z3...; lower-case for URLs."""
    return f"{prefix}_{str(ULID()).lower()}"
