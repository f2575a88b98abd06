"""The web console: a single page that shows assets, variants side by side and dedup matches."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse

router = APIRouter(include_in_schema=False)

# Next to the package, not via importlib.resources: that fails when an editable install maps `api`
# as a namespace package, and the page is one file either way.
PAGE = Path(__file__).resolve().parent.parent / "static" / "console.html"

# Self-contained page: inline script and style only; pictures may come from a CDN (img-src *).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: *; style-src 'self' 'unsafe-inline'; "
    "script-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'none'"
)


@router.get("/")
async def root() -> RedirectResponse:
    """Send browsers to the console."""
    return RedirectResponse("/console", status_code=307)


@router.get("/console")
def console() -> HTMLResponse:
    """The console page; it talks to the JSON API with the key the user enters."""
    return HTMLResponse(PAGE.read_text(encoding="utf-8"), headers={
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-cache",
    })
