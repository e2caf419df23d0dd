"""The registry survives a PostgreSQL restart: the SDK retries through it within
its budget, the server's connection pools recover, and nothing is lost or
duplicated."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator

import pytest

import modelreg
from modelreg_server.config import Settings
from modelreg_server.testing import ServerThread, fresh_database
from tests.faults.pg import OwnPostgres

THREADS = 4
MAX_CALLS_PER_THREAD = 400
OUTAGE_S = 5.0
JOIN_TIMEOUT_S = 90.0


@pytest.fixture
def server_on_own_postgres(own_postgres: OwnPostgres) -> Iterator[ServerThread]:
    with fresh_database(own_postgres.url) as url:
        server = ServerThread(Settings(listen="127.0.0.1:0", database_url=url)).start()
        try:
            yield server
        finally:
            server.stop()


class Registrations:
    """THREADS loops of registrations, each with a request_id of its own that is also
    the artifact's name, so each version names the call that made it."""

    def __init__(self, target: str, project: str) -> None:
        self.target = target
        self.project = project
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.sent: list[str] = []
        self.returned: list[int] = []
        self.failures: list[BaseException] = []
        self.threads = [threading.Thread(target=self._loop) for _ in range(THREADS)]

    def _loop(self) -> None:
        with modelreg.Client(self.target, timeout=5, actor="restart") as client:
            for _ in range(MAX_CALLS_PER_THREAD):
                if self.stop.is_set():
                    return
                request_id = uuid.uuid4().hex
                with self.lock:
                    self.sent.append(request_id)
                try:
                    uri = f"s3://b/{request_id}"
                    v = client.register_model_version(
                        self.project, "m", artifact_uri=uri, request_id=request_id
                    )
                except BaseException as exc:
                    with self.lock:
                        self.failures.append(exc)
                    return
                with self.lock:
                    self.returned.append(v.version)

    def __enter__(self) -> Registrations:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=JOIN_TIMEOUT_S)
        assert not any(t.is_alive() for t in self.threads), "a registration loop hung"


def wait_for_calls(loop: Registrations, count: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while len(loop.returned) < count:
        assert not loop.failures, loop.failures
        assert time.monotonic() < deadline, f"fewer than {count} registrations in {timeout}s"
        time.sleep(0.02)


@pytest.mark.slow
def test_registrations_run_through_a_database_restart(
    own_postgres: OwnPostgres, server_on_own_postgres: ServerThread
) -> None:
    project = "restart"
    with modelreg.Client(server_on_own_postgres.target) as client:
        client.create_project(project)
        with Registrations(server_on_own_postgres.target, project) as loop:
            wait_for_calls(loop, 20)
            own_postgres.stop_immediate()
            before_outage = len(loop.returned)
            time.sleep(OUTAGE_S)
            own_postgres.start()
            wait_for_calls(loop, before_outage + 40, timeout=40)
            time.sleep(0.5)
        assert loop.failures == [], loop.failures
        versions = list(client.list_model_versions(project, "m"))
    # Gapless 1..N, one version per call made, one per request_id.
    calls = len(loop.sent)
    assert [v.version for v in versions] == list(range(1, calls + 1))
    assert sorted(loop.returned) == list(range(1, calls + 1))
    made_by = sorted(v.artifact.uri.rpartition("/")[2] for v in versions)
    assert made_by == sorted(loop.sent)


FREEZE_S = 2.5
FROZEN_CALLS = 12


@pytest.mark.slow
async def test_calls_made_while_the_database_is_frozen_succeed_after_it_thaws(
    own_postgres: OwnPostgres, server_on_own_postgres: ServerThread
) -> None:
    """A frozen database answers nothing and refuses nothing. Each attempt ends at
    its 1 s deadline (the server drops the connection it was cancelled on), the SDK
    tries again, and once the database thaws every call succeeds, each mutation
    exactly once."""
    target = server_on_own_postgres.target
    async with modelreg.AsyncClient(target, timeout=1.0, actor="freeze") as client:
        await client.create_project("freeze")
        await client.register_model_version("freeze", "m", artifact_uri="s3://b/first")
        own_postgres.freeze()
        thaw = asyncio.get_running_loop().call_later(FREEZE_S, own_postgres.thaw)
        try:

            async def one(i: int) -> object:
                match i % 3:
                    case 0:
                        return await client.register_model_version(
                            "freeze", "m", artifact_uri=f"s3://b/{i}"
                        )
                    case 1:
                        return await client.get_model_version("freeze", "m", 1)
                    case _:
                        return await client.get_model("freeze", "m")

            results = await asyncio.wait_for(
                asyncio.gather(*(one(i) for i in range(FROZEN_CALLS))), timeout=60
            )
        finally:
            thaw.cancel()
            own_postgres.thaw()
        assert len(results) == FROZEN_CALLS
        versions = [v.version async for v in client.list_model_versions("freeze", "m")]
    assert versions == list(range(1, 2 + FROZEN_CALLS // 3))
