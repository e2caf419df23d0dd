"""Shared fixtures: one PostgreSQL database per test run (the server named by
MODELREG_TEST_DATABASE_URL, else a throwaway embedded cluster), one real gRPC
server on 127.0.0.1, and a fresh project per test.

Clients: ``client`` is parametrised, so every SDK contract test runs twice, against
``modelreg.Client`` ([sync]) and against ``modelreg.AsyncClient`` through a sync-style
adapter ([async], tests/async_adapter.py). ``sync_client`` is the genuine sync client,
for what only it has (the raw ``stub``, its channel, the CLI); ``aclient`` is the
AsyncClient itself, for tests that are async anyway."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any, cast

import pytest

import modelreg
from modelreg.cli import main as cli_main
from modelreg_server.storage.database import create_engine
from modelreg_server.storage.store import Store
from modelreg_server.testing import ServerThread, fresh_database, running_server, server_url
from tests.async_adapter import AsyncAdapter, LoopThread


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    # An unreachable MODELREG_TEST_DATABASE_URL fails here: it is never a skip.
    with server_url() as url:
        yield url


@pytest.fixture(scope="session")
def database_url(pg_server_url: str) -> Iterator[str]:
    with fresh_database(pg_server_url) as url:
        yield url


@pytest.fixture(scope="session")
def server(database_url: str) -> Iterator[ServerThread]:
    with running_server(database_url) as srv:
        yield srv


@pytest.fixture(scope="session")
def target(server: ServerThread) -> str:
    return server.target


@pytest.fixture(scope="session")
def adapter_loop() -> Iterator[LoopThread]:
    loop = LoopThread()
    yield loop
    loop.close()


@pytest.fixture(params=["sync", "async"])
def client(request: pytest.FixtureRequest, target: str) -> Iterator[modelreg.Client]:
    """Client, then AsyncClient behind the adapter (which has Client's methods)."""
    if request.param == "sync":
        with modelreg.Client(target, actor="tester") as c:
            yield c
        return
    adapter = AsyncAdapter(request.getfixturevalue("adapter_loop"), target, actor="tester")
    try:
        yield cast(modelreg.Client, adapter)
    finally:
        adapter.close()


@pytest.fixture
def sync_client(target: str) -> Iterator[modelreg.Client]:
    with modelreg.Client(target, actor="tester") as c:
        yield c


@pytest.fixture
def stub(sync_client: modelreg.Client) -> Any:
    """The generated RegistryService stub, for calls the SDK makes for you (request ids,
    enum numbers, raw bytes); send ``tests.support.ACTOR`` as metadata on mutations."""
    return sync_client.stub


@pytest.fixture
async def aclient(target: str) -> AsyncIterator[modelreg.AsyncClient]:
    async with modelreg.AsyncClient(target, actor="tester") as c:
        yield c


def unique(prefix: str = "p") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def project(sync_client: modelreg.Client) -> str:
    """A fresh project, so tests never see each other's data."""
    name = unique("proj")
    sync_client.create_project(name)
    return name


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    # 5: two connections for each pool (database.split_pool), one left for a probe.
    s = Store(create_engine(database_url, pool_size=5))
    yield s
    await s.close()


@pytest.fixture
def cli(target: str, capsys: pytest.CaptureFixture[str]) -> Any:
    """``cli("versions", "list", ...)``: the CLI against the test server, in process
    -> (exit code, stdout, stderr)."""

    def run(*argv: str) -> tuple[int, str, str]:
        code = cli_main(["--target", target, *argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run


# The dashboard (modelreg_ui): served against the session's server; see tests/ui_support.py.


@pytest.fixture(scope="session")
def ui_url(target: str) -> Iterator[str]:
    from tests.ui_support import running_ui

    with running_ui(target) as ui:
        yield ui.url


@pytest.fixture
def http(ui_url: str) -> Iterator[Any]:
    """An httpx client of the dashboard; redirects are not followed (tests see them)."""
    import httpx

    with httpx.Client(base_url=ui_url, follow_redirects=False, timeout=30) as h:
        yield h


@pytest.fixture
def browser(ui_url: str) -> Iterator[Any]:
    """Headless Debian Chromium through Playwright; skips (saying why) without one.

    Launched per test: Playwright's sync API keeps an event loop marked running on
    this thread while it is open, and fixtures that run ``asyncio.run`` (a fresh
    database, a key) must come before it: request ``page`` last."""
    from tests.ui_support import CHROMIUM_ARGS, NO_CHROMIUM, chromium_path

    path = chromium_path()
    if path is None:
        pytest.skip(NO_CHROMIUM)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class BrowserPage:
    """A Playwright page that records console errors and uncaught exceptions."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))

    def screenshot(self, name: str) -> Any:
        from tests.ui_support import SCREENSHOTS

        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def page(browser: Any, ui_url: str) -> Iterator[BrowserPage]:
    """A new browser page on the dashboard (base URL set); fails the test if the page
    logged a console error or threw."""
    context = browser.new_context(base_url=ui_url, viewport={"width": 1400, "height": 900})
    wrapped = BrowserPage(context.new_page())
    try:
        yield wrapped
    finally:
        context.close()
    assert wrapped.errors == [], wrapped.errors


def pytest_terminal_summary(terminalreporter: Any) -> None:
    from tests.ui_support import NO_CHROMIUM, chromium_path

    if chromium_path() is None:
        terminalreporter.write_line(NO_CHROMIUM, yellow=True, bold=True)
