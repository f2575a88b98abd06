"""Give freed heap memory back to the system after large picture work.

glibc keeps pages freed by big decodes in its arenas; after a 36 MP burst a process held some
600 MiB it no longer used (benchmarks/memory_trim.py). malloc_trim(0) returns them.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable


def _libc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, or None on other C libraries (musl, macOS)."""
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_MALLOC_TRIM = _libc_trim()


def release_memory() -> bool:
    """Hand freed heap pages back to the system; False where the C library has no malloc_trim."""
    if _MALLOC_TRIM is None:
        return False
    _MALLOC_TRIM(0)
    return True
