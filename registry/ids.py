"""Identifiers: a readable prefix plus a ULID, so ids sort by creation time."""

from __future__ import annotations

import re
import secrets

from ulid import ULID

# What any id this registry hands out looks like; anything else names nothing and never reaches SQL
# (PostgreSQL rejects a NUL byte in a text parameter with an error, not a miss). It also bounds the
# length (at most 49 characters), so fields checked against it need no separate length limit.
ID_PATTERN = r"^[a-z]{1,8}_[0-9a-z]{1,40}$"
_ID = re.compile(ID_PATTERN)


def new_id(prefix: str) -> str:
    """A new identifier such as ast_01J9Z3...; lower-case for URLs."""
    return f"{prefix}_{str(ULID()).lower()}"


def is_well_formed(value: str) -> bool:
    """Whether `value` has the shape of an id (prefix, underscore, lower-case letters and digits)."""
    return _ID.fullmatch(value) is not None


_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"


def new_opaque_id(prefix: str) -> str:
    """A new identifier with 130 random bits and no time part: nothing about it follows from another id.

    Asset ids are public (every variant URL names one); a time-ordered id minted next to an upload id
    would let anyone derive one from the other.
    """
    value = secrets.randbits(130)
    return prefix + "_" + "".join(_CROCKFORD[(value >> (5 * i)) & 31] for i in range(26))
