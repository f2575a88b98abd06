"""A small HTTP client for the skupix API, used by the CLI."""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any

import httpx


class ApiFailure(Exception):
    """The server answered with an error body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message
        self.details: dict[str, Any] = {}


class SkupixClient:
    """Thin wrapper over httpx with bearer auth and the API's error shape."""

    def __init__(self, base_url: str, api_key: str, timeout: float = 120.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(base_url=self.base_url, timeout=timeout,
                                 headers={"Authorization": f"Bearer {api_key}"}, follow_redirects=False)
        # Variant URLs are public and may name a CDN or another host: fetched without the key.
        self.anonymous = httpx.Client(timeout=timeout, follow_redirects=False)

    def close(self) -> None:
        """Close the connection pools."""
        self.http.close()
        self.anonymous.close()

    def is_api_origin(self, url: str) -> bool:
        """Whether `url` (absolute or relative) points at the API's own scheme, host and port."""
        target = httpx.URL(url)
        if not target.is_absolute_url:
            return True
        own = httpx.URL(self.base_url)
        return (target.scheme, target.host, target.port) == (own.scheme, own.host, own.port)

    @staticmethod
    def _check(response: httpx.Response) -> dict[str, Any]:
        if response.status_code >= 400:
            try:
                body = response.json()
                raise ApiFailure(response.status_code, str(body.get("code")), str(body.get("message")))
            except ValueError:
                raise ApiFailure(response.status_code, "http_error", response.text[:200]) from None
        data: dict[str, Any] = response.json()
        return data

    def upload(self, path: Path, sku: str | None = None, role: str | None = None,
               position: int | None = None) -> dict[str, Any]:
        """POST /v1/media with one file."""
        fields: dict[str, str] = {}
        if sku:
            fields["sku"] = sku
            if role:
                fields["role"] = role
            if position is not None:
                fields["position"] = str(position)
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        with path.open("rb") as handle:
            response = self.http.post("/v1/media", data=fields, files={"file": (path.name, handle, content_type)})
        return self._check(response)

    def listing(self, sku: str, platform: str) -> dict[str, Any]:
        """GET a SKU's listing for a platform."""
        from urllib.parse import quote

        response = self.http.get(f"/v1/skus/{quote(sku, safe='')}/listing", params={"platform": platform})
        return self._check(response)

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One JSON request to the API (a path under it); the decoded answer, or ApiFailure."""
        response = self.http.request(method, path, json=body)
        if response.status_code >= 400:
            self._check(response)
        return response.json()

    def download(self, url: str) -> bytes:
        """Fetch a variant URL (following redirects to a CDN or presigned URL).

        The API key goes only to the API's own origin; httpx drops it on redirects to other hosts.
        """
        client = self.http if self.is_api_origin(url) else self.anonymous
        response = client.get(url, follow_redirects=True)
        if response.status_code >= 400:
            self._check(response)
        return response.content

    def import_catalog(self, text: str) -> dict[str, Any]:
        """POST a catalogue CSV (UTF-8)."""
        response = self.http.post("/v1/catalog/import", content=text.encode("utf-8"),
                                  headers={"Content-Type": "text/csv; charset=utf-8"})
        return self._check_detailed(response)

    @staticmethod
    def _check_detailed(response: httpx.Response) -> dict[str, Any]:
        """Like _check, but an error keeps its details (per-line import errors)."""
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                raise ApiFailure(response.status_code, "http_error", response.text[:200]) from None
            failure = ApiFailure(response.status_code, str(body.get("code")), str(body.get("message")))
            failure.details = body.get("details") or {}
            raise failure
        data: dict[str, Any] = response.json()
        return data

    def official_upload(self, path: Path, gtin: str, role: str | None, position: int | None,
                        facet: str | None) -> dict[str, Any]:
        """POST an official picture of a catalogue product."""
        fields = {k: str(v) for k, v in (("role", role), ("position", position), ("facet", facet)) if v is not None}
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        with path.open("rb") as handle:
            response = self.http.post(f"/v1/catalog/products/{gtin}/media", data=fields,
                                      files={"file": (path.name, handle, content_type)})
        return self._check(response)

    def pack_manifest(self, brand: str, pack: str, version: str, platform: str) -> dict[str, Any]:
        """GET the file list of a pack version for a platform."""
        from urllib.parse import quote

        response = self.http.get(f"/v1/packs/{quote(brand, safe='')}/{quote(pack, safe='')}/versions/"
                                 f"{quote(version, safe='')}/manifest", params={"platform": platform})
        return self._check(response)

    def stream_to(self, url: str, handle: Any, offset: int = 0) -> int:
        """Append a URL's bytes from `offset` to an open file (Range when resuming); returns the new offset."""
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        with self.http.stream("GET", url, headers=headers, follow_redirects=True) as response:
            if response.status_code >= 400:
                response.read()
                self._check(response)
            if offset and response.status_code != 206:  # no range support: start over
                handle.seek(0)
                handle.truncate()
                offset = 0
            for chunk in response.iter_bytes():
                handle.write(chunk)
                offset += len(chunk)
        return offset
    def stats(self, days: int = 30) -> dict[str, Any]:
        """GET /v1/stats: the caller's usage analytics."""
        return self._check(self.http.get("/v1/stats", params={"days": days}))
