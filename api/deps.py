"""FastAPI dependencies: the runtime, the authenticated principal and parsed upload forms."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from api.errors import ApiError
from api.forms import strict_form
from processing.errors import FileTooLarge
from registry.errors import Forbidden, Unauthenticated
from registry.media.trust import parse_ai_content
from registry.runtime import Runtime
from registry.skus.service import SlotRequest, parse_slot
from registry.tenants.service import Permission, Principal, authenticate

_FORM_FIELDS = {"file", "sku", "role", "position", "ai"}


def get_runtime(request: Request) -> Runtime:
    """The process runtime built at start-up."""
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def bearer_key(authorization: str | None) -> str:
    """The key of an `Authorization: Bearer KEY` header; Unauthenticated without one."""
    if not authorization:
        raise Unauthenticated("send an API key as 'Authorization: Bearer KEY'")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("the Authorization header must be 'Bearer KEY'")
    return token


async def get_principal(request: Request, rt: RuntimeDep) -> Principal:
    """The tenant behind the request's bearer key; 401 without a valid one."""
    key = bearer_key(request.headers.get("authorization"))
    return await run_in_threadpool(authenticate, rt, key)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def optional_principal(request: Request, rt: RuntimeDep) -> Principal | None:
    """The caller when it sends a key (a bad key is still a 401), else None: the catalogue is public."""
    if request.headers.get("authorization") is None:
        return None
    return await get_principal(request, rt)


OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]


def viewer(principal: Principal | None) -> str | None:
    """The tenant a public listing is shown to: the caller's, or None for an anonymous one."""
    return principal.tenant_id if principal else None


@dataclass(frozen=True)
class ImageForm:
    """A multipart upload: the file's bytes and name, and the optional slot fields."""

    data: bytes
    filename: str
    slot: SlotRequest | None
    ai_content: str = "none"


async def _read_limited(upload: UploadFile, limit: int) -> bytes:
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise FileTooLarge(f"the file has more than {limit} bytes")
    return data


async def _parse_image_form(request: Request, rt: Runtime, *, with_slot: bool) -> ImageForm:
    limit = rt.limits.max_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise FileTooLarge(f"the request has {declared} bytes; files may have at most {limit}")
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise ApiError(415, "multipart_required", "send the picture as multipart/form-data with a 'file' field")
    async with strict_form(request, max_files=1, max_fields=8, max_part_size=64 * 1024) as form:
        unknown = sorted(set(form.keys()) - _FORM_FIELDS)
        if unknown:
            raise ApiError(422, "unknown_field", f"unknown form fields: {', '.join(unknown)}", fields=unknown)
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise ApiError(422, "file_missing", "the form needs a 'file' field holding the picture")
        data = await _read_limited(upload, limit)
        filename = upload.filename or ""
        slot = None
        ai_content = "none"
        if with_slot:
            fields = {name: form.get(name) for name in ("sku", "role", "position", "ai")}
            if any(value is not None and not isinstance(value, str) for value in fields.values()):
                raise ApiError(422, "invalid_field", "sku, role, position and ai must be plain text fields")
            slot = parse_slot(fields["sku"], fields["role"], fields["position"])  # type: ignore[arg-type]
            ai_content = parse_ai_content(fields["ai"]).value  # type: ignore[arg-type]
    return ImageForm(data=data, filename=filename, slot=slot, ai_content=ai_content)


async def upload_form(request: Request, rt: RuntimeDep, principal: PrincipalDep) -> ImageForm:
    """Parse and check an upload form before any work is done; a key that may not upload is refused
    before a byte of the form is read."""
    if not principal.can_upload:
        raise Forbidden("platform keys read listings shared with them; they cannot upload")
    return await _parse_image_form(request, rt, with_slot=True)


async def search_form(request: Request, rt: RuntimeDep, principal: PrincipalDep) -> ImageForm:
    """Parse a search-by-picture form (a file only), after the key is checked."""
    if not principal.can(Permission.SEARCH):
        raise Forbidden("search by picture is for sellers (brand and merchant keys)")
    return await _parse_image_form(request, rt, with_slot=False)


UploadFormDep = Annotated[ImageForm, Depends(upload_form)]
SearchFormDep = Annotated[ImageForm, Depends(search_form)]


def public_base(request: Request, rt: Runtime) -> str:
    """The absolute origin clients should use for links."""
    if rt.settings.public_url:
        return rt.settings.public_url.rstrip("/")
    return str(request.base_url).rstrip("/")
