"""Map domain errors to JSON responses with stable codes; nothing reaches a client as a bare 500."""

from __future__ import annotations

import logging
from urllib.parse import unquote_to_bytes

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from api import ops
from processing import errors as image_errors
from processing.profiles import ProfileError
from registry import errors as registry_errors
from storage import StorageError

log = logging.getLogger(__name__)

_STATUS: list[tuple[type[Exception], int]] = [
    (image_errors.EmptyImage, 400),
    (image_errors.FileTooLarge, 413),
    (image_errors.UnsupportedFormat, 415),
    (image_errors.ImageTooLarge, 422),
    (image_errors.CorruptImage, 422),
    (image_errors.ImageError, 422),
    (registry_errors.Unauthenticated, 401),
    (registry_errors.Forbidden, 403),
    (registry_errors.NotFound, 404),
    (registry_errors.Conflict, 409),
    (registry_errors.Gone, 410),
    (registry_errors.InvalidInput, 422),
    (registry_errors.ServiceUnavailable, 503),
    (registry_errors.RenderUnavailable, 422),
    (registry_errors.RenderPending, 409),
    (registry_errors.RegistryError, 400),
]

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    411: "length_required",
    413: "file_too_large",
    410: "gone",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
}


class ApiError(Exception):
    """An error raised by the HTTP layer itself (bad headers, bad form fields)."""

    def __init__(self, status: int, code: str, message: str, **details: object) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


def error_response(status: int, code: str, message: str, **details: object) -> JSONResponse:
    """The one JSON error shape: {"code", "message", "status", optional "details"}."""
    body: dict[str, object] = {"code": code, "message": message, "status": status}
    ops.errors[code] += 1
    if details:
        body["details"] = details
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


def status_for(exc: Exception) -> int:
    """The HTTP status a domain error maps to."""
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            return status
    return 500


def install_error_handlers(app: FastAPI) -> None:
    """Register handlers for domain, validation, HTTP and unexpected errors."""

    @app.exception_handler(image_errors.ImageError)
    async def _image_error(_request: Request, exc: image_errors.ImageError) -> JSONResponse:
        return error_response(status_for(exc), exc.code, exc.message)

    @app.exception_handler(registry_errors.RegistryError)
    async def _registry_error(_request: Request, exc: registry_errors.RegistryError) -> JSONResponse:
        return error_response(status_for(exc), exc.code, exc.message, **exc.details)

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, **exc.details)

    @app.exception_handler(ProfileError)
    async def _profile_error(_request: Request, exc: ProfileError) -> JSONResponse:
        return error_response(422, "invalid_profile", str(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"field": ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")),
             "problem": str(err.get("msg", ""))}
            for err in exc.errors()
        ]
        return error_response(422, "invalid_request", "the request has missing or invalid fields",
                              problems=problems)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return error_response(exc.status_code, code, message)

    @app.exception_handler(StorageError)
    async def _storage(_request: Request, exc: StorageError) -> JSONResponse:
        log.error("blob store error: %s", exc)
        message = "the blob store is unavailable; try again shortly"
        return error_response(503, registry_errors.StoreUnavailable.code, message)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return error_response(500, "internal_error", "something went wrong on our side; it has been logged")


class RejectNulInUrl:
    """Answer 400 to any URL whose path or query holds a NUL byte.

    No id, SKU or cursor this API knows contains one, and PostgreSQL rejects a NUL in a text
    parameter with an error rather than a miss: refusing it here keeps every route, present and
    future, from turning such a URL into a 500.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on unless its URL holds a NUL byte."""
        if scope["type"] == "http" and (
            "\x00" in scope.get("path", "") or b"\x00" in unquote_to_bytes(scope.get("query_string", b""))
        ):
            response = error_response(400, "bad_request", "URLs may not contain NUL characters")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
