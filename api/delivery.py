"""How variant bytes reach a client: inline, streamed, or by redirect to a CDN or presigned URL.

Only `api/` reads the delivery settings (`cdn_url`, `variant_delivery`, `presign_ttl_seconds`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from registry.records import VariantRecord
from registry.runtime import Runtime
from registry.settings import VariantDelivery

INLINE_UP_TO = 4 * 1024 * 1024  # bytes; larger variants are streamed in chunks


@dataclass(frozen=True)
class Delivery:
    """How to send a variant's bytes: inline, as a stream, or by redirect to a direct URL."""

    body: bytes | None = None
    chunks: Iterator[bytes] | None = None
    redirect_url: str | None = None


def delivery(rt: Runtime, variant: VariantRecord) -> Delivery:
    """Pick the delivery for a stored variant according to settings and the store's abilities."""
    settings = rt.settings
    if settings.cdn_url:
        return Delivery(redirect_url=settings.cdn_url.rstrip("/") + "/" + variant.blob_key)
    if settings.variant_delivery == VariantDelivery.REDIRECT:
        url = rt.store.presigned_url(variant.blob_key, settings.presign_ttl_seconds)
        if url:
            return Delivery(redirect_url=url)
    if variant.size_bytes <= INLINE_UP_TO:
        return Delivery(body=rt.store.get(variant.blob_key))
    return Delivery(chunks=rt.store.iter_chunks(variant.blob_key))
