"""The dashboard against a server with API keys: a visitor is asked for a key once,
it is kept in an HttpOnly cookie and sent with every call; a refused key is asked
for again, and each visitor sees what their own key may see."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import modelreg
from modelreg_server.domain.access import Role
from modelreg_server.testing import ServerThread
from tests.auth_support import auth_server, make_key
from tests.conftest import unique
from tests.ui_support import running_ui


@pytest.fixture(scope="module")
def secured(database_url: str) -> Iterator[ServerThread]:
    with auth_server(database_url) as server:
        yield server


@pytest.fixture(scope="module")
def projects(secured: ServerThread, database_url: str) -> tuple[str, str]:
    admin = make_key(database_url, None, Role.SERVER_ADMIN)
    mine, theirs = unique("uikeya"), unique("uikeyb")
    with modelreg.Client(secured.target, api_key=admin) as client:
        client.create_project(mine)
        client.create_project(theirs)
    return mine, theirs


@pytest.fixture
def dashboard(secured: ServerThread) -> Iterator[httpx.Client]:
    with running_ui(secured.target) as ui, httpx.Client(base_url=ui.url, timeout=30) as h:
        yield h


def test_without_a_key_a_page_sends_to_the_key_page_and_back(
    dashboard: httpx.Client, projects: tuple[str, str], database_url: str
) -> None:
    mine, theirs = projects
    first = dashboard.get("/", params={"page_size": 500})
    assert first.status_code == 303
    assert first.headers["location"].startswith("/login?next=")
    form = dashboard.get(first.headers["location"])
    assert form.status_code == 401 and 'name="api_key"' in form.text

    token = make_key(database_url, mine, Role.READER)
    given = dashboard.post("/login", data={"api_key": token, "next": "/?page_size=500"})
    assert given.status_code == 303 and given.headers["location"] == "/?page_size=500"
    cookie = given.headers["set-cookie"]
    assert "modelreg_key=" in cookie
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    # The key is not echoed into any page.
    page = dashboard.get("/", params={"page_size": 500})
    assert page.status_code == 200
    assert token not in page.text
    # A project key sees its own project only.
    assert f'href="/projects/{mine}"' in page.text
    assert f'href="/projects/{theirs}"' not in page.text


def test_a_refused_key_is_asked_for_again_without_a_cookie(dashboard: httpx.Client) -> None:
    forged = "mrk_aaaaaaaaaaaa_" + "b" * 43
    refused = dashboard.post("/login", data={"api_key": forged, "next": "/"})
    assert refused.status_code == 401
    assert "The key was refused" in refused.text
    assert "set-cookie" not in refused.headers
    malformed = dashboard.post("/login", data={"api_key": "not a key", "next": "/"})
    assert malformed.status_code == 400 and "set-cookie" not in malformed.headers


def test_a_revoked_key_in_the_cookie_leads_back_to_the_key_page(
    dashboard: httpx.Client, projects: tuple[str, str], database_url: str
) -> None:
    token = make_key(database_url, projects[0], Role.READER, revoked=True)
    dashboard.cookies.set("modelreg_key", token)
    response = dashboard.get("/")
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


def test_the_key_page_never_redirects_off_site(
    dashboard: httpx.Client, projects: tuple[str, str], database_url: str
) -> None:
    token = make_key(database_url, projects[0], Role.READER)
    for target in ("https://evil.example/", "//evil.example/x"):
        response = dashboard.post("/login", data={"api_key": token, "next": target})
        assert response.status_code == 303 and response.headers["location"] == "/"


def test_forgetting_the_key_clears_the_cookie(
    dashboard: httpx.Client, projects: tuple[str, str], database_url: str
) -> None:
    token = make_key(database_url, projects[0], Role.READER)
    assert dashboard.post("/login", data={"api_key": token, "next": "/"}).status_code == 303
    assert dashboard.get("/").status_code == 200
    out = dashboard.post("/logout")
    assert out.status_code == 303
    assert dashboard.get("/").status_code == 303  # asked for a key again


def test_without_auth_the_key_page_says_none_is_needed(http: Any) -> None:
    response = http.post("/login", data={"api_key": "mrk_aaaaaaaaaaaa_" + "b" * 43, "next": "/"})
    assert response.status_code == 200
    assert "without API keys" in response.text


@pytest.fixture
def reader_token(projects: tuple[str, str], database_url: str) -> str:
    return make_key(database_url, projects[0], Role.READER)


def test_in_a_browser_the_key_is_given_once_and_scripts_cannot_read_it(
    secured: ServerThread, projects: tuple[str, str], reader_token: str, browser: Any
) -> None:
    mine = projects[0]
    with running_ui(secured.target) as ui:
        context = browser.new_context(base_url=ui.url)
        try:
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"/projects/{mine}")
            assert "/login" in page.url  # asked for a key, then back to the project
            page.fill("input[name=api_key]", reader_token)
            page.click("button[type=submit]")
            page.wait_for_url(f"**/projects/{mine}")
            assert page.locator("h1").first.inner_text().strip().startswith(mine)
            # HttpOnly: the page's scripts never see the key.
            assert reader_token not in page.evaluate("document.cookie")
            (cookie,) = [c for c in context.cookies() if c["name"] == "modelreg_key"]
            assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
            # Kept: another page needs no key again.
            page.goto("/")
            assert "/login" not in page.url
            assert page.locator(f'a[href="/projects/{mine}"]').count() == 1
            assert errors == []
        finally:
            context.close()
