"""``modelreg ui`` as a user starts it: a real process serving the dashboard of the
session's server on 127.0.0.1, printing its address; and its argument errors."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

import modelreg
from modelreg.cli import main
from tests.conftest import unique

MODELREG = str(Path(sys.executable).parent / "modelreg")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_modelreg_ui_serves_the_dashboard_of_the_target(
    target: str, sync_client: modelreg.Client
) -> None:
    name = unique("uicli")
    sync_client.create_project(name)
    port = _free_port()
    proc = subprocess.Popen(
        [MODELREG, "ui", "--target", target, "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}/" in first and target in first
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(
                    f"http://127.0.0.1:{port}/", params={"filter": f'name = "{name}"'}, timeout=5
                )
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.1)
        assert response.status_code == 200
        assert f'href="/projects/{name}"' in response.text
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_modelreg_ui_rejects_a_bad_listen_address(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["ui", "--listen", "nowhere"])
    assert exit_.value.code == 2
    assert "--listen" in capsys.readouterr().err


def test_modelreg_ui_help_names_its_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["ui", "--help"])
    out = capsys.readouterr().out
    for option in ("--target", "--listen", "--api-key", "--tls-ca"):
        assert option in out
