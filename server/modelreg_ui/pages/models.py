"""Pages of the models area (being built)."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
