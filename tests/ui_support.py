"""The dashboard in tests: uvicorn serving ``create_app`` on 127.0.0.1 (a free port)
in a background thread, an HTTP client for it, and headless Chromium driven by
Playwright (Debian's chromium: a downloaded browser is never used).

Browser tests skip, saying so, when no Chromium is found: ``$MODELREG_CHROMIUM``,
then ``chromium`` on the PATH, then /usr/bin/chromium (``apt-get install chromium``;
.ci/run installs it)."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn

from modelreg_ui import UiSettings, create_app

ROOT = Path(__file__).resolve().parents[1]
# Where browser tests save their screenshots (ignored by git; the README's are in docs/).
SCREENSHOTS = ROOT / "build" / "screenshots"
# Chromium as the machine's probe starts it: no background connections (this network
# refuses them), no sandbox (CI runs as root), a new profile per launch.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


class UiThread:
    """The dashboard served by uvicorn on its own loop in a daemon thread."""

    def __init__(self, settings: UiSettings) -> None:
        config = uvicorn.Config(
            create_app(settings),
            host="127.0.0.1",
            port=0,
            log_level="warning",
            lifespan="on",
            access_log=False,
        )
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run, name="ui", daemon=True)

    @property
    def url(self) -> str:
        sockets = self.server.servers[0].sockets
        host, port = sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    def start(self) -> UiThread:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the dashboard did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=15)


@contextmanager
def running_ui(target: str, **settings: Any) -> Iterator[UiThread]:
    ui = UiThread(UiSettings(target=target, **settings)).start()
    try:
        yield ui
    finally:
        ui.stop()


def chromium_path() -> str | None:
    """The Chromium to drive, or None (the browser tests then skip, saying why)."""
    for candidate in (
        os.environ.get("MODELREG_CHROMIUM"),
        shutil.which("chromium"),
        "/usr/bin/chromium",
    ):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


NO_CHROMIUM = (
    "browser tests skipped: no Chromium found ($MODELREG_CHROMIUM, chromium on PATH, "
    "/usr/bin/chromium); install it with 'apt-get install chromium'"
)
