"""The FastAPI application factory."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from api.errors import RejectNulInUrl, install_error_handlers
from api.hotlink import Hotlink, enable_access_log
from api.limits import install_limits
from api.routes import catalog, console, hotlinks, keys, media, packs, skus, stats, trust
from api.routes import compliance as compliance_routes
from api.routes import platforms as platform_routes
from api.routes import profiles as profile_routes
from registry.runtime import Runtime
from registry.settings import Settings
from workers.bootstrap import close_runtime, create_runtime

log = logging.getLogger(__name__)


class SkupixApp(FastAPI):
    """FastAPI with /v/ hotlinks answered ahead of its per-request machinery (telemetry, middleware, routing)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.hotlink = Hotlink(super().__call__)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Hotlinks here; everything else through FastAPI, with a request id and an access-log line."""
        scope["app"] = self
        await self.hotlink(scope, receive, send)


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    """Build the app; the runtime is created at start-up unless one is handed in (tests)."""
    owns_runtime = runtime is None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if app.state.runtime is None:
            app.state.runtime = create_runtime(settings or Settings())
            # What start-up made lives as long as the process: keep it out of the cyclic collector's full
            # passes, which otherwise walk every module, model and table (120-170 ms pauses, seen in the
            # hot path's p99). Only a served app does this; tests hand in their runtime.
            gc.collect()
            gc.freeze()
        if app.state.runtime.settings.access_log:
            enable_access_log()
        try:
            yield
        finally:
            if owns_runtime and app.state.runtime is not None:
                close_runtime(app.state.runtime)
                app.state.runtime = None

    app = SkupixApp(
        title="skupix",
        version="0.1.0",
        description="Shared product-media registry and image CDN: upload once, reuse by reference.",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    install_error_handlers(app)
    app.add_middleware(RejectNulInUrl)
    install_limits(app)
    app.include_router(media.router)
    app.include_router(skus.router)
    app.include_router(profile_routes.router)
    app.include_router(platform_routes.router)
    app.include_router(console.router)
    app.include_router(stats.router)
    app.include_router(stats.pages)
    app.include_router(hotlinks.router)
    app.include_router(keys.router)
    app.include_router(trust.router)
    app.include_router(compliance_routes.router)
    app.include_router(catalog.router)
    app.include_router(packs.router)
    return app


def create_served_app() -> object:
    """The app as `skupix serve --server granian` runs it: X-Forwarded-For/-Proto trusted, as uvicorn does."""
    from granian.utils.proxies import wrap_asgi_with_proxy_headers

    return wrap_asgi_with_proxy_headers(create_app(), "*")
