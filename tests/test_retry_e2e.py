"""The SDK retries UNAVAILABLE: a call made while the server is not up yet
succeeds once it is, and a mutation lands exactly once."""

from __future__ import annotations

import socket
import threading

import pytest

import modelreg
from modelreg_server.config import Settings
from modelreg_server.testing import ServerThread
from tests.conftest import unique


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_call_made_before_the_server_is_up_is_retried(
    database_url: str, client: modelreg.Client
) -> None:
    project = unique()
    client.create_project(project)
    port = free_port()
    late = ServerThread(Settings(listen=f"127.0.0.1:{port}", database_url=database_url))
    timer = threading.Timer(0.5, late.start)
    timer.start()
    try:
        retry = modelreg.RetryPolicy(max_attempts=30, initial_backoff_s=0.05, max_backoff_s=0.2)
        with modelreg.Client(f"127.0.0.1:{port}", retry=retry, timeout=5) as patient:
            v = patient.register_model_version(project, "m", artifact_uri="s3://b/m.pt")
        assert v.version == 1
        assert [x.version for x in client.list_model_versions(project, "m")] == [1]
    finally:
        timer.join()
        late.stop()


def test_unavailable_surfaces_as_unavailable_error_after_the_last_attempt() -> None:
    retry = modelreg.RetryPolicy(max_attempts=2, initial_backoff_s=0.01, max_backoff_s=0.01)
    with (
        modelreg.Client(f"127.0.0.1:{free_port()}", retry=retry, timeout=2) as nobody,
        pytest.raises(modelreg.UnavailableError) as info,
    ):
        nobody.get_project("anything")
    assert info.value.code.name == "UNAVAILABLE"
