"""The SDK retries UNAVAILABLE: a call made while the server is not up yet
succeeds once it is, and a mutation lands exactly once."""

from __future__ import annotations

import socket
import threading
import time

import pytest

import modelreg
from modelreg_server.config import Settings
from modelreg_server.testing import ServerThread
from tests.conftest import unique
from tests.support import CuttingProxy


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_call_made_before_the_server_is_up_is_retried(
    database_url: str, sync_client: modelreg.Client
) -> None:
    project = unique()
    sync_client.create_project(project)
    port = free_port()
    late = ServerThread(Settings(listen=f"127.0.0.1:{port}", database_url=database_url))
    timer = threading.Timer(0.5, late.start)
    timer.start()
    try:
        retry = modelreg.RetryPolicy(max_attempts=30, initial_backoff_s=0.05, max_backoff_s=0.2)
        with modelreg.Client(f"127.0.0.1:{port}", retry=retry, timeout=5) as patient:
            v = patient.register_model_version(project, "m", artifact_uri="s3://b/m.pt")
        assert v.version == 1
        assert [x.version for x in sync_client.list_model_versions(project, "m")] == [1]
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


async def test_async_client_raises_unavailable_error_after_the_last_attempt() -> None:
    retry = modelreg.RetryPolicy(max_attempts=2, initial_backoff_s=0.01, max_backoff_s=0.01)
    async with modelreg.AsyncClient(f"127.0.0.1:{free_port()}", retry=retry, timeout=2) as nobody:
        with pytest.raises(modelreg.UnavailableError) as info:
            await nobody.get_project("anything")
    assert info.value.code.name == "UNAVAILABLE"


def test_lost_response_is_retried_with_the_same_request_id(
    target: str, sync_client: modelreg.Client
) -> None:
    """The server commits, the reply is lost on the wire, the SDK retries on a new
    connection with the same request_id: one version, and the caller gets it."""
    project = unique()
    sync_client.create_project(project)
    proxy = CuttingProxy(target)
    result: list[modelreg.ModelVersion | BaseException] = []
    retry = modelreg.RetryPolicy(max_attempts=5, initial_backoff_s=0.05, max_backoff_s=0.2)

    def register() -> None:
        with modelreg.Client(proxy.target, retry=retry, timeout=10) as via_proxy:
            try:
                result.append(via_proxy.register_model_version(project, "m", artifact_uri="a"))
            except BaseException as exc:
                result.append(exc)

    caller = threading.Thread(target=register)
    caller.start()
    try:
        deadline = time.monotonic() + 10
        # The model is created by the same statement as the version: once it
        # exists, the server has committed, and the reply is what gets lost.
        while not _has_model(sync_client, project):
            assert time.monotonic() < deadline, "the registration never reached the server"
            time.sleep(0.02)
        proxy.cut()
        caller.join(timeout=20)
    finally:
        proxy.close()
    assert len(result) == 1 and isinstance(result[0], modelreg.ModelVersion), result
    assert result[0].version == 1
    assert proxy.connections >= 2  # the SDK did come back on a new connection
    assert [v.version for v in sync_client.list_model_versions(project, "m")] == [1]
    assert sync_client.get_model(project, "m").version_count == 1


def _has_model(client: modelreg.Client, project: str) -> bool:
    try:
        client.get_model(project, "m")
    except modelreg.NotFoundError:
        return False
    return True
