"""Small general caches."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

_Value = TypeVar("_Value")


class computed_once(Generic[_Value]):
    """A per-instance cached attribute without functools.cached_property's lock.

    On Python 3.11 that lock is one per attribute for the whole class: while one verification
    thread computed a candidate's ORB features, the other waited to compute another picture's. Two
    threads computing the same picture's value at once both get an equal value, so no lock is needed.
    """

    def __init__(self, compute: Callable[[Any], _Value]) -> None:
        self._compute = compute
        self._name = compute.__name__
        self.__doc__ = compute.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    def __get__(self, instance: Any, owner: type | None = None) -> _Value:
        if instance is None:
            return self  # type: ignore[return-value]  # class access, as for any descriptor
        try:
            return instance.__dict__[self._name]
        except KeyError:
            value = instance.__dict__[self._name] = self._compute(instance)
            return value
