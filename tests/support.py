"""Test-only helpers shared by several test modules."""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import modelreg
from modelreg_server.testing import ServerThread, fresh_database, running_server

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0
_READY = re.compile(r"^modelreg serving on (127\.0\.0\.1:\d+)$")


class ServerProcess:
    """``python -m modelreg_server`` as a child process; stderr goes to ``log``."""

    def __init__(
        self, args: list[str], *, cwd: Path, log: Path, env: dict[str, str] | None = None
    ) -> None:
        self.log = log
        # The child must not pick up a database, listen address or grace from the caller.
        child_env = {k: v for k, v in os.environ.items() if not k.startswith("MODELREG_")}
        child_env["MODELREG_SHUTDOWN_GRACE"] = "2"
        child_env["MODELREG_SHUTDOWN_DRAIN"] = "0"
        child_env.update(env or {})
        with log.open("w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "modelreg_server", "--listen", "127.0.0.1:0", *args],
                stdout=subprocess.PIPE,
                stderr=err,
                stdin=subprocess.DEVNULL,
                text=True,
                cwd=cwd,
                env=child_env,
            )
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def stderr_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> str:
        """The ``host:port`` the server printed once it was ready."""
        while True:
            try:
                line = self._lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(
                    f"server not ready within {timeout}s; stderr:\n{self.stderr_tail()}"
                ) from None
            if line is None:
                code = self.proc.wait(timeout=STOP_TIMEOUT_S)
                raise AssertionError(f"server exited with {code}; stderr:\n{self.stderr_tail()}")
            match = _READY.match(line)
            if match:
                return match.group(1)

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM, then SIGKILL if it has not exited within ``timeout``; the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                # Where it hangs goes to its log (faulthandler, see modelreg_server.__main__).
                self.proc.send_signal(signal.SIGUSR1)
                time.sleep(0.5)
                self.proc.kill()
        return self.proc.wait(timeout=timeout)


class CuttingProxy:
    """A TCP proxy on 127.0.0.1 in front of ``upstream``.

    The first connection is the victim: once the client has sent ``after_bytes``
    (its request), the server's replies stop being forwarded, and ``cut()``
    closes the connection. Later connections are forwarded untouched. This is a
    response lost on the wire after the server did the work.
    """

    def __init__(self, upstream: str, after_bytes: int = 200) -> None:
        host, _, port = upstream.rpartition(":")
        self._upstream = (host, int(port))
        self._after = after_bytes
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self.connections = 0
        self._victim: list[socket.socket] = []
        self._sent_by_client = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            server = socket.create_connection(self._upstream, timeout=5)
            self.connections += 1
            victim = self.connections == 1
            if victim:
                self._victim = [client, server]
            for src, dst, upward in ((client, server, True), (server, client, False)):
                threading.Thread(
                    target=self._pump, args=(src, dst, upward, victim), daemon=True
                ).start()

    def _pump(self, src: socket.socket, dst: socket.socket, upward: bool, victim: bool) -> None:
        try:
            while chunk := src.recv(65536):
                if victim and upward:
                    self._sent_by_client += len(chunk)
                if victim and not upward and self._sent_by_client >= self._after:
                    continue  # the reply is lost
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        for s in self._victim:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._stop.set()
        self.cut()
        self._listener.close()
        self._thread.join(timeout=5)


UTC_OFFSET = timedelta(0)
# Metadata of raw-stub mutations, as the SDK sends it.
ACTOR = (("modelreg-actor", "tester"),)


def register(
    client: modelreg.Client, project: str, model: str, n: int = 1
) -> list[modelreg.ModelVersion]:
    """Register ``n`` plain versions of ``model``."""
    return [
        client.register_model_version(project, model, artifact_uri=f"s3://b/{model}/{i}.pt")
        for i in range(n)
    ]


def numbers(versions: Iterable[modelreg.ModelVersion]) -> list[int]:
    return [v.version for v in versions]


def call_lines(
    records: list[logging.LogRecord], method: str, since: float
) -> list[logging.LogRecord]:
    """The per-call log lines of ``method`` ("Service/Method") for calls started at or
    after ``since`` (``time.time()``). A call's line is written when its task ends,
    maybe after the client has its answer, so this waits up to 2 s for the first one,
    then briefly for any second one; an earlier test's line is told apart by its start."""

    def ours() -> list[logging.LogRecord]:
        return [
            r
            for r in records
            if r.__dict__.get("method") == method
            and r.created - r.__dict__["duration_ms"] / 1000 >= since
        ]

    for _ in range(200):
        if ours():
            break
        time.sleep(0.01)
    time.sleep(0.05)  # and no second line
    return ours()


def own_database_and_server() -> tuple[Any, Any, Any]:
    """Module-scoped ``database_url``, ``server`` and ``target`` fixtures of a module's
    own: ``database_url, server, target = own_database_and_server()`` at module level
    overrides the session's, for a test that reads every row of the database."""

    @pytest.fixture(scope="module")
    def database_url(pg_server_url: str) -> Iterator[str]:
        with fresh_database(pg_server_url) as url:
            yield url

    @pytest.fixture(scope="module")
    def server(database_url: str) -> Iterator[ServerThread]:
        with running_server(database_url) as srv:
            yield srv

    @pytest.fixture(scope="module")
    def target(server: ServerThread) -> str:
        return server.target

    return database_url, server, target


# Experiment tracking: raw TrackingService calls and rows the tests need first.


@contextlib.contextmanager
def tracking_stub(target: str) -> Iterator[Any]:
    """The generated TrackingService stub on a channel of its own."""
    import grpc

    from modelreg.api.v1 import tracking_service_pb2_grpc

    with grpc.insecure_channel(target) as channel:
        yield tracking_service_pb2_grpc.TrackingServiceStub(channel)


def dataset_version(
    tracking: Any, project: str, dataset: str, version: str = "", **fields: Any
) -> Any:
    """Register a dataset version (uri made up unless given); the DatasetVersion."""
    from modelreg.api.v1 import resources_pb2, tracking_service_pb2

    fields.setdefault("uri", f"s3://data/{dataset}/{version or 'next'}")
    return tracking.CreateDatasetVersion(
        tracking_service_pb2.CreateDatasetVersionRequest(
            parent=f"projects/{project}/datasets/{dataset}",
            version_id=version,
            dataset_version=resources_pb2.DatasetVersion(**fields),
        ),
        metadata=ACTOR,
        timeout=10,
    )


def sql(database_url: str, query: str, *args: Any) -> list[Any]:
    """Run one statement on the test database (rows, for a query)."""
    import asyncio

    import asyncpg

    from modelreg_server.testing import asyncpg_dsn

    async def go() -> list[Any]:
        conn = await asyncpg.connect(asyncpg_dsn(database_url))
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()

    return asyncio.run(go())


def insert_run(database_url: str, project: str, run: str) -> str:
    """A run row made directly (the runs API is another family's); its resource name."""
    sql(
        database_url,
        "INSERT INTO runs (project_id, name, state) "
        "SELECT id, $2, 'RUNNING' FROM projects WHERE name = $1",
        project,
        run,
    )
    return f"projects/{project}/runs/{run}"
