"""Multipart parsing that refuses what Starlette would quietly reinterpret.

Starlette reads a form field or file name that is not valid UTF-8 as Latin-1, so a SKU sent in
another encoding would silently become a different SKU. Here such a form is refused instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Request
from starlette.datastructures import FormData
from starlette.formparsers import MultiPartException, MultiPartParser

from api.errors import ApiError


class InvalidText(ApiError):
    """A form field, field name or file name is not valid UTF-8."""

    def __init__(self, what: str) -> None:
        super().__init__(400, "invalid_utf8", f"the form's {what} is not valid UTF-8; send UTF-8 text")


def _strict(data: bytes | bytearray, what: str) -> str:
    try:
        return bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidText(what) from exc


class StrictMultiPartParser(MultiPartParser):
    """Starlette's parser, with every text part decoded as strict UTF-8."""

    def on_part_end(self) -> None:
        """Check a text field before Starlette decodes it."""
        if self._current_part.file is None:
            _strict(self._current_part.data, f"field {self._current_part.field_name!r}")
        super().on_part_end()

    def on_headers_finished(self) -> None:
        """Check the part's field and file names before Starlette decodes them."""
        disposition = self._current_part.content_disposition or b""
        _strict(disposition, "field or file name")
        super().on_headers_finished()


@asynccontextmanager
async def strict_form(request: Request, *, max_files: int, max_fields: int,
                      max_part_size: int) -> AsyncIterator[FormData]:
    """Parse a multipart form like `request.form()`, but refuse text that is not UTF-8."""
    parser = StrictMultiPartParser(request.headers, request.stream(), max_files=max_files,
                                   max_fields=max_fields, max_part_size=max_part_size)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise ApiError(400, "invalid_multipart", exc.message) from exc
    try:
        yield form
    finally:
        await form.close()
