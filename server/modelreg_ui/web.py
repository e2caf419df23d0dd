"""What every page handler uses: the visitor's client, rendering, query parameters."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

import modelreg
from modelreg_ui.clients import ClientPool
from modelreg_ui.settings import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

# The HttpOnly cookie that keeps the visitor's API key (see session.py).
KEY_COOKIE = "modelreg_key"
TEMPLATES = Path(__file__).parent / "templates"


class BadParam(Exception):
    """A query parameter the page cannot use: a 400 page naming it."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message


class KeyNeeded(Exception):
    """The visitor's key is missing or refused: the key page, then back here."""


def client(request: Request) -> modelreg.AsyncClient:
    """The API client of this visitor: their key's, else the dashboard's default."""
    pool: ClientPool = request.app.state.pool
    try:
        return pool.client(request.cookies.get(KEY_COOKIE) or None)
    except ValueError as exc:  # a malformed key in the cookie: ask for a key again
        raise KeyNeeded(str(exc)) from None


def render(
    request: Request, template: str, context: Mapping[str, Any] | None = None, status: int = 200
) -> HTMLResponse:
    env: Environment = request.app.state.templates
    values = {
        "request": request,
        "signed_in": bool(request.cookies.get(KEY_COOKIE)),
        **(context or {}),
    }
    return HTMLResponse(env.get_template(template).render(values), status_code=status)


def page_args(request: Request, default_size: int = DEFAULT_PAGE_SIZE) -> tuple[str, int]:
    """``page_token`` and ``page_size`` of the URL (a server-side page of a table)."""
    token = request.query_params.get("page_token", "")
    size = int_param(request, "page_size", default_size, low=1, high=MAX_PAGE_SIZE)
    return token, size


def int_param(request: Request, name: str, default: int, *, low: int, high: int) -> int:
    raw = request.query_params.get(name, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadParam(name, f"must be a whole number, not {raw!r}") from None
    if not low <= value <= high:
        raise BadParam(name, f"must be between {low} and {high}, not {value}")
    return value


def with_query(request: Request, **changes: str | int | None) -> str:
    """This page's URL with some query parameters changed (None removes one)."""
    params: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        params.setdefault(key, []).append(value)
    for key, change in changes.items():
        if change is None or change == "":
            params.pop(key, None)
        else:
            params[key] = [str(change)]
    query = urlencode([(k, v) for k, vs in params.items() for v in vs])
    return request.url.path + (f"?{query}" if query else "")


def href(resource_name: str) -> str:
    """The dashboard URL of an API resource name: a model, version, run or deployment
    has its page; anything else (dataset versions, pipeline runs, ...) its lineage page.

    ``projects/p/models/m/versions/3`` -> ``/projects/p/models/m/versions/3``;
    ``projects/p/datasets/d/versions/v`` -> ``/lineage/projects/p/datasets/d/versions/v``.
    """
    parts = resource_name.strip("/").split("/")
    if not parts or parts[0] != "projects" or len(parts) < 2:
        return "/lineage/" + quote(resource_name.strip("/"))
    if len(parts) == 2:
        return "/projects/" + quote(parts[1])
    kind = parts[2]
    if (kind == "models" and len(parts) in (4, 6)) or (
        kind in ("runs", "deployments") and len(parts) == 4
    ):
        if len(parts) == 6 and parts[4] != "versions":
            return "/lineage/" + quote(resource_name.strip("/"))
        return "/" + "/".join(quote(x) for x in parts)
    return "/lineage/" + quote(resource_name.strip("/"))


# Jinja filters.


def fmt_time(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def fmt_num(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        return f"{value:.4g}" if abs(value) < 1e6 else f"{value:.6g}"
    return str(value)


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["time"] = fmt_time
    env.filters["num"] = fmt_num
    env.filters["href"] = href
    env.globals["href"] = href
    return env
