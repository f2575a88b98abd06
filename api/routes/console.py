"""The web console: a single page that shows assets, variants side by side and dedup matches."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse

router = APIRouter(include_in_schema=False)


@router.get("/")
async def root() -> RedirectResponse:
    """Send browsers to the console."""
    return RedirectResponse("/console", status_code=307)


@router.get("/console")
async def console() -> HTMLResponse:
    """The console page; it talks to the JSON API with the key the user enters."""
    page = resources.files("api").joinpath("static/console.html").read_text(encoding="utf-8")
    return HTMLResponse(page, headers={"Content-Security-Policy": "default-src 'self'; img-src 'self' data: *; "
                                       "style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'",
                                       "X-Content-Type-Options": "nosniff"})
