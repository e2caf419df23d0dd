"""The projects overview and a project's page."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from modelreg_ui.web import client, page_args, render


async def index(request: Request) -> Response:
    token, size = page_args(request)
    page = await client(request).list_projects().page(token, page_size=size)
    return render(
        request, "projects/index.html", {"projects": page.items, "next": page.next_page_token}
    )


routes: list[BaseRoute] = [Route("/", index, name="index")]
