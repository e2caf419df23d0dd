"""The key page: a visitor gives an API key once; it is kept in an HttpOnly cookie."""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

import modelreg
from modelreg_ui.clients import ClientPool
from modelreg_ui.web import KEY_COOKIE, render

_MAX_FORM = 8192


def _next(value: str | None) -> str:
    # Only a path of this site: never an absolute URL (an open redirect).
    if not value or not value.startswith("/") or value.startswith("//"):
        return "/"
    return value


async def _check(pool: ClientPool, key: str) -> None:
    """Ask the API whose key this is, on a client of its own (closed after)."""
    probe = pool.make(key)
    try:
        await probe.caller_key()
    finally:
        await probe.close()


async def login(request: Request) -> Response:
    if request.method == "GET":
        return render(
            request,
            "login.html",
            {"next": _next(request.query_params.get("next")), "refused": ""},
            status=401 if request.query_params.get("next") else 200,
        )
    # A urlencoded form of two short fields (the stdlib reads it: Starlette's form
    # parser needs python-multipart, a dependency for nothing else).
    body = await request.body()
    form = parse_qs(body[:_MAX_FORM].decode("utf-8", "replace"))
    key = form.get("api_key", [""])[0].strip()
    target = _next(form.get("next", [""])[0])
    try:
        await _check(request.app.state.pool, key)
    except ValueError as exc:
        return render(request, "login.html", {"next": target, "refused": str(exc)}, status=400)
    except modelreg.ModelregError as exc:
        if exc.code.name == "UNAUTHENTICATED":
            return render(
                request, "login.html", {"next": target, "refused": exc.details}, status=401
            )
        if exc.code.name == "NOT_FOUND":  # the API runs without keys
            return render(
                request,
                "login.html",
                {"next": target, "refused": "", "no_auth": exc.details},
                status=200,
            )
        raise
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        KEY_COOKIE,
        key,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


async def logout(request: Request) -> Response:
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(KEY_COOKIE, path="/")
    return response


routes = [
    Route("/login", login, methods=["GET", "POST"], name="login"),
    Route("/logout", logout, methods=["POST"], name="logout"),
]
