"""The registry survives a PostgreSQL restart: the SDK retries through it within
its budget, the server's connection pools recover, and nothing is lost or
duplicated."""

from __future__ import annotations

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
