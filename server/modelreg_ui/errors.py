"""Errors as pages: an API error is its status and message, never a stack trace."""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

import modelreg
from modelreg_ui.web import KEY_COOKIE, BadParam, render

log = logging.getLogger("modelreg_ui")

# The HTTP status of a page whose API call failed with this gRPC status.
HTTP_STATUS = {
    "INVALID_ARGUMENT": 400,
    "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "FAILED_PRECONDITION": 409,
    "ABORTED": 409,
    "ALREADY_EXISTS": 409,
    "RESOURCE_EXHAUSTED": 429,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}
TITLES = {
    400: "Bad request",
    401: "API key needed",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    429: "Too many requests",
    500: "Dashboard error",
    502: "API error",
    503: "API unavailable",
    504: "API timed out",
}


def error_page(
    request: Request,
    status: int,
    message: str,
    *,
    code: str = "",
    reason: str = "",
    field: str = "",
) -> Response:
    return render(
        request,
        "error.html",
        {
            "status": status,
            "title": TITLES.get(status, "Error"),
            "message": message,
            "code": code,
            "reason": reason,
            "field": field,
        },
        status=status,
    )


async def api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, modelreg.ModelregError)
    if exc.code.name == "UNAUTHENTICATED":
        # The key was refused: its client goes, and the visitor is asked for a key.
        request.app.state.pool.forget(request.cookies.get(KEY_COOKIE) or None)
        if request.method == "GET":
            return _to_login(request)
    status = HTTP_STATUS.get(exc.code.name, 502)
    return error_page(
        request,
        status,
        exc.details,
        code=exc.code.name,
        reason=exc.reason,
        field=exc.field or "",
    )


def _to_login(request: Request) -> Response:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?{urlencode({'next': here})}", status_code=303)


async def key_needed(request: Request, exc: Exception) -> Response:
    return _to_login(request)


async def bad_param(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BadParam)
    return error_page(request, 400, exc.message, field=exc.name)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = exc.detail if exc.detail else TITLES.get(exc.status_code, "Error")
    if exc.status_code == 404 and exc.detail in ("Not Found", ""):
        message = f"There is no page at {request.url.path}."
    return error_page(request, exc.status_code, message)


async def unexpected(request: Request, exc: Exception) -> Response:
    log.error("page %s failed", request.url.path, exc_info=exc)
    return error_page(request, 500, "The dashboard failed to build this page; its log says why.")
