"""Health follows the database: a PostgreSQL the test owns is stopped (immediate
mode) and frozen (SIGSTOP) under a running server, and health, Watch, calls and the
log all tell the truth."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

import modelreg
from modelreg_server.config import Settings
from modelreg_server.testing import ServerThread, fresh_database
from tests.conftest import unique

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
# A liveness bound for each flip, not a timing claim: the probe runs every second
# with a 0.6 s timeout, so a flip takes about 1-2 s; the measured delays are printed.
FLIP_BOUND_S = 15.0


def flip_delay(check: Callable[[], int], want: int) -> float:
    started = time.monotonic()
    while time.monotonic() - started < FLIP_BOUND_S:
        if check() == want:
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"health not {want} within {FLIP_BOUND_S}s")


@pytest.fixture
def served(own_postgres: Any) -> Iterator[tuple[Any, ServerThread]]:
    with fresh_database(own_postgres.url) as url:
        server = ServerThread(Settings(listen="127.0.0.1:0", database_url=url)).start()
        try:
            yield own_postgres, server
        finally:
            server.stop()


@pytest.mark.slow
def test_health_follows_a_database_stop_and_freeze(
    served: tuple[Any, ServerThread], caplog: pytest.LogCaptureFixture
) -> None:
    pg, server = served
    caplog.set_level(logging.INFO, logger="modelreg_server")
    channel = grpc.insecure_channel(server.target)
    stub = health_pb2_grpc.HealthStub(channel)

    def check() -> int:
        return int(stub.Check(health_pb2.HealthCheckRequest(), timeout=5).status)

    watched: list[int] = []
    watch = stub.Watch(health_pb2.HealthCheckRequest(service="modelreg.api.v1.RegistryService"))

    def follow() -> None:
        try:
            for response in watch:
                watched.append(int(response.status))
        except grpc.RpcError:
            pass  # cancelled at the end of the test

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    project = unique("health")
    delays: dict[str, float] = {}
    retry = modelreg.RetryPolicy(max_attempts=1)
    try:
        with (
            modelreg.Client(server.target, actor="tester", timeout=3, retry=retry) as once,
            modelreg.Client(server.target, actor="tester", timeout=3) as client,
        ):
            client.create_project(project)
            assert check() == SERVING

            pg.stop_immediate()
            delays["stop"] = flip_delay(check, NOT_SERVING)
            with pytest.raises(modelreg.ModelregError) as down:
                once.get_project(project)
            assert down.value.code.name in ("UNAVAILABLE", "DEADLINE_EXCEEDED")
            time.sleep(1.5)  # several probes while down: still one WARNING
            pg.start()
            delays["back"] = flip_delay(check, SERVING)
            assert client.get_project(project).name.endswith(project)

            pg.freeze()
            try:
                delays["freeze"] = flip_delay(check, NOT_SERVING)
            finally:
                pg.thaw()
            delays["thaw"] = flip_delay(check, SERVING)
            assert client.get_project(project).name.endswith(project)
        print(f"health flips after: {delays}")

        deadline = time.monotonic() + FLIP_BOUND_S
        while watched[-1:] != [SERVING] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert watched == [SERVING, NOT_SERVING, SERVING, NOT_SERVING, SERVING]

        health_logs = [r for r in caplog.records if r.name == "modelreg_server.health"]
        assert [r.levelname for r in health_logs] == ["WARNING", "INFO", "WARNING", "INFO"]
        assert all(len(r.getMessage()) < 300 for r in health_logs)
        # No traceback for any failed call while the database was away.
        assert not [r for r in caplog.records if r.exc_info], [
            r.getMessage() for r in caplog.records if r.exc_info
        ]
    finally:
        watch.cancel()
        channel.close()
