"""The ASGI app: routes of every page, error pages, the API client pool."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

import modelreg
from modelreg_ui import errors, session
from modelreg_ui.clients import ClientPool
from modelreg_ui.pages import models, production, projects, runs, versions
from modelreg_ui.settings import UiSettings
from modelreg_ui.web import BadParam, KeyNeeded, environment


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
    )
    app.state.settings = settings
    app.state.pool = pool
    app.state.templates = environment()
    return app
