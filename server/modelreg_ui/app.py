"""The ASGI app: routes of every page, error pages, the API client pool."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import modelreg
from modelreg_ui import errors, session
from modelreg_ui.clients import ClientPool
from modelreg_ui.pages import models, production, projects, runs, versions
from modelreg_ui.settings import UiSettings
from modelreg_ui.web import BadParam, KeyNeeded, environment

# Every response: scripts and styles only from the dashboard itself (no inline script,
# no CDN), no framing, no MIME sniffing, no referrer leaving the site.
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
}


class SecurityHeaders:
    """Pure ASGI middleware adding SECURITY_HEADERS to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.raw = [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.raw]
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(settings: UiSettings | None = None) -> Starlette:
    """The dashboard for the API at ``settings.target``."""
    settings = settings or UiSettings()
    pool = ClientPool(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await pool.close()

    app = Starlette(
        routes=[
            Mount("/static", StaticFiles(packages=[("modelreg_ui", "static")]), name="static"),
            *session.routes,
            *projects.routes,
            *runs.routes,
            *models.routes,
            *versions.routes,
            *production.routes,
        ],
        exception_handlers={
            modelreg.ModelregError: errors.api_error,
            BadParam: errors.bad_param,
            KeyNeeded: errors.key_needed,
            HTTPException: errors.http_error,
            Exception: errors.unexpected,
        },
        lifespan=lifespan,
        middleware=[Middleware(SecurityHeaders)],
    )
    app.state.settings = settings
    app.state.pool = pool
    app.state.templates = environment()
    return app
