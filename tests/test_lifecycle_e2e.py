"""The server's life as an operator sees it: waiting for the database at start, a
drain on SIGTERM that a load balancer can see, and the embedded cluster after a
crash. Real server processes, real PostgreSQL."""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import psutil
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

import modelreg
from modelreg_server.testing import asyncpg_dsn
from tests.conftest import unique
from tests.faults.proxy import FaultProxy
from tests.support import STOP_TIMEOUT_S, ServerProcess

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
BOUND_S = 30.0  # an upper bound for things that take a second or two, never a timing claim


def check(target: str) -> int:
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return int(stub.Check(health_pb2.HealthCheckRequest(), timeout=5).status)


def eventually(predicate: object, what: str, bound: float = BOUND_S) -> None:
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"not within {bound}s: {what}")


# Start: waiting for the database


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _through(database_url: str, port: int) -> str:
    """``database_url`` with host and port replaced by 127.0.0.1:``port``."""
    from sqlalchemy.engine import make_url

    return (
        make_url(asyncpg_dsn(database_url))
        .set(host="127.0.0.1", port=port)
        .render_as_string(hide_password=False)
    )


def _upstream(database_url: str) -> tuple[str, int] | None:
    """The database's TCP address; None when it is reached over a Unix socket."""
    from sqlalchemy.engine import make_url

    url = make_url(asyncpg_dsn(database_url))
    return None if url.host is None else (url.host, url.port or 5432)


@pytest.mark.slow
def test_start_gives_up_after_db_wait_with_a_clear_message(tmp_path: Path) -> None:
    url = f"postgresql://postgres@127.0.0.1:{closed_port()}/nowhere"
    proc = ServerProcess(
        ["--database-url", url], cwd=tmp_path, log=tmp_path / "s.log", env={"MODELREG_DB_WAIT": "1"}
    )
    code = proc.proc.wait(timeout=BOUND_S)
    assert code == 1
    err = proc.stderr_tail()
    assert "database not reachable after waiting 1s (MODELREG_DB_WAIT)" in err
    assert "Traceback" not in err


@pytest.mark.slow
def test_start_waits_for_a_database_that_comes_up_late(database_url: str, tmp_path: Path) -> None:
    upstream = _upstream(database_url)
    if upstream is None:
        pytest.skip("the test database is on a Unix socket; this test forwards TCP")
    port = closed_port()
    late: FaultProxy | None = None
    proc = ServerProcess(
        ["--database-url", _through(database_url, port)],
        cwd=tmp_path,
        log=tmp_path / "s.log",
        env={"MODELREG_DB_WAIT": "30"},
    )
    try:
        # The server says it waits (however long its start takes on a loaded machine),
        # then keeps waiting rather than exiting.
        deadline = time.monotonic() + BOUND_S
        while "waiting up to 30s (MODELREG_DB_WAIT)" not in proc.stderr_tail():
            assert proc.proc.poll() is None, proc.stderr_tail()
            assert time.monotonic() < deadline, proc.stderr_tail()
            time.sleep(0.05)
        time.sleep(1.0)
        assert proc.proc.poll() is None, proc.stderr_tail()
        # The database comes up: a proxy to it starts listening on the port given.
        late = FaultProxy(f"{upstream[0]}:{upstream[1]}", port=port)
        target = proc.wait_ready()
        assert check(target) == SERVING
    finally:
        assert proc.stop() == 0, proc.stderr_tail()
        if late is not None:
            late.close()


# SIGTERM: the drain


@pytest.mark.slow
def test_sigterm_drains_health_first_then_refuses_and_ends_watch_at_once(
    database_url: str, tmp_path: Path
) -> None:
    proc = ServerProcess(
        ["--database-url", database_url],
        cwd=tmp_path,
        log=tmp_path / "s.log",
        env={"MODELREG_SHUTDOWN_DRAIN": "3", "MODELREG_SHUTDOWN_GRACE": "20"},
    )
    target = proc.wait_ready()
    project = unique("drain")
    watched: list[int] = []
    watch_ended = threading.Event()
    channel = grpc.insecure_channel(target)

    def watch() -> None:
        stub = health_pb2_grpc.HealthStub(channel)
        for response in stub.Watch(health_pb2.HealthCheckRequest(), timeout=BOUND_S):
            watched.append(int(response.status))
        watch_ended.set()  # ended by the server, with OK

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        eventually(lambda: watched == [SERVING], "Watch says SERVING")
        proc.proc.send_signal(signal.SIGTERM)
        # NOT_SERVING while the listener is still open: Check answers.
        eventually(lambda: check(target) == NOT_SERVING, "Check says NOT_SERVING")
        # The open Watch got NOT_SERVING and was ended at the start of the drain.
        assert watch_ended.wait(BOUND_S)
        assert watched == [SERVING, NOT_SERVING]
        # Calls are still served during the drain.
        with modelreg.Client(target, actor="tester", timeout=5) as client:
            client.create_project(project)
            assert proc.proc.poll() is None
        # Then new calls are refused, and the process exits without waiting out the grace.
        code = proc.proc.wait(timeout=15)  # drain 3 s; the grace of 20 s is not waited out
        assert code == 0, proc.stderr_tail()
        with pytest.raises(grpc.RpcError) as refused:
            check(target)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "draining: health NOT_SERVING" in proc.stderr_tail()
    finally:
        channel.close()
        proc.stop()


@pytest.mark.slow
def test_sigint_skips_the_drain(database_url: str, tmp_path: Path) -> None:
    proc = ServerProcess(
        ["--database-url", database_url],
        cwd=tmp_path,
        log=tmp_path / "s.log",
        env={"MODELREG_SHUTDOWN_DRAIN": "60"},
    )
    proc.wait_ready()
    proc.proc.send_signal(signal.SIGINT)
    assert proc.proc.wait(timeout=BOUND_S) == 0, proc.stderr_tail()
    assert "draining" not in proc.stderr_tail()


# The embedded cluster after a crash


def postmaster(data_dir: Path) -> psutil.Process | None:
    pidfile = data_dir / "pgdata" / "postmaster.pid"
    try:
        pid = int(pidfile.read_text().split()[0])
        process = psutil.Process(pid)
    except (FileNotFoundError, IndexError, ValueError, psutil.NoSuchProcess):
        return None
    return process if process.is_running() and process.status() != "zombie" else None


@contextlib.contextmanager
def no_cluster_left(data_dir: Path) -> Iterator[None]:
    try:
        yield
    finally:
        leftover = postmaster(data_dir)
        if leftover is not None:
            leftover.kill()


@pytest.mark.slow
def test_a_clean_stop_stops_the_cluster_even_after_a_sigkill(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with no_cluster_left(data_dir):
        crashed = ServerProcess(["--data-dir", str(data_dir)], cwd=tmp_path, log=tmp_path / "1.log")
        crashed.wait_ready()
        crashed.proc.kill()
        crashed.proc.wait(timeout=STOP_TIMEOUT_S)
        orphan = postmaster(data_dir)
        assert orphan is not None, "the cluster outlives a SIGKILLed server"

        second = ServerProcess(["--data-dir", str(data_dir)], cwd=tmp_path, log=tmp_path / "2.log")
        target = second.wait_ready()
        assert check(target) == SERVING
        assert second.stop() == 0, second.stderr_tail()
        with contextlib.suppress(psutil.TimeoutExpired):
            orphan.wait(timeout=BOUND_S)
        assert postmaster(data_dir) is None, "a clean stop left the cluster running"


@pytest.mark.slow
def test_a_second_server_on_the_same_data_directory_is_refused(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with no_cluster_left(data_dir):
        first = ServerProcess(["--data-dir", str(data_dir)], cwd=tmp_path, log=tmp_path / "1.log")
        try:
            target = first.wait_ready()
            second = ServerProcess(
                ["--data-dir", str(data_dir)], cwd=tmp_path, log=tmp_path / "2.log"
            )
            try:
                code = second.proc.wait(timeout=BOUND_S)
            finally:
                second.stop()
            assert code == 1
            err = second.stderr_tail()
            assert f"is in use by another modelreg process (pid {first.proc.pid})" in err
            assert "Traceback" not in err
            # The first one is untouched.
            assert check(target) == SERVING
        finally:
            assert first.stop() == 0, first.stderr_tail()
        assert postmaster(data_dir) is None


# Worker processes


def workers_of(proc: ServerProcess) -> set[int]:
    parent = psutil.Process(proc.proc.pid)
    return {c.pid for c in parent.children() if c.name() != "postgres" and "python" in c.name()}


@pytest.mark.slow
def test_workers_share_the_port_a_dead_worker_is_replaced_and_sigterm_stops_all(
    tmp_path: Path,
) -> None:
    """``--workers 2`` on the embedded default: the cluster is started once by the
    parent, a SIGKILLed worker is replaced, and SIGTERM stops workers and cluster."""
    data_dir = tmp_path / "data"
    with no_cluster_left(data_dir):
        proc = ServerProcess(
            ["--data-dir", str(data_dir), "--workers", "2"], cwd=tmp_path, log=tmp_path / "s.log"
        )
        try:
            target = proc.wait_ready()
            first = workers_of(proc)
            assert len(first) == 2
            project = unique("workers")
            with modelreg.Client(target, actor="tester", timeout=10) as client:
                client.create_project(project)
                victim = sorted(first)[0]
                psutil.Process(victim).kill()
                eventually(
                    lambda: len(workers_of(proc)) == 2 and victim not in workers_of(proc),
                    "a new worker replaces the dead one",
                )
                eventually(lambda: check(target) == SERVING, "serving again")
                # Every connection works: fresh clients land on either worker.
                for i in range(6):
                    with modelreg.Client(target, actor="tester", timeout=10) as fresh:
                        v = fresh.register_model_version(project, "m", artifact_uri=f"s3://b/{i}")
                        assert v.version == i + 1
            assert "died after" in proc.stderr_tail()
            survivors = [psutil.Process(p) for p in workers_of(proc)]
        finally:
            code = proc.stop()
        assert code == 0, proc.stderr_tail()
        assert not [p for p in survivors if p.is_running() and p.status() != "zombie"]
        assert postmaster(data_dir) is None, "the parent did not stop the cluster"
