"""``modelreg serve --workers N``: N server processes on one port.

The parent prepares what must happen once (the embedded cluster, the wait for the
database, the schema upgrade), reserves the port, and forks the workers before any
gRPC object or event loop exists in it (gRPC's rule for fork). Each worker is a
whole server (``app.serve``) binding the same port with SO_REUSEPORT, so the kernel
spreads connections over them. The parent supervises: a worker that dies is
replaced; SIGTERM or SIGINT is passed to every worker, which drains and stops as a
lone server would, and the parent stops the embedded cluster last. SIGHUP is passed
to every worker too: each rereads its TLS files (certificate rotation).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import NoReturn

from modelreg_server import app, metrics
from modelreg_server.config import Settings, listen_host
from modelreg_server.storage.embedded import EmbeddedPostgres, start_embedded
from modelreg_server.transport import tls

log = logging.getLogger("modelreg_server.workers")

READY_TIMEOUT_S = 60.0
# A worker that dies sooner than this after its start is crash-looping: back off.
_STABLE_S = 5.0
_MAX_BACKOFF_S = 10.0
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# Held back while a worker is forked: the stop signals and SIGHUP (TLS reload).
_FORK_BLOCKED = (*_STOP_SIGNALS, signal.SIGHUP)
STOP_FAILED_S = 15.0


class StartFailed(RuntimeError):
    pass


def _reserve_port(listen: str) -> tuple[socket.socket, str]:
    """Bind (without listening) a SO_REUSEPORT socket on the listen address, so port 0
    becomes one concrete port every worker shares, held for the parent's lifetime."""
    host = listen_host(listen)
    port = int(listen.rpartition(":")[2])
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    return sock, f"{shown}:{bound}"


async def _prepare(settings: Settings) -> None:
    """Wait for the database and bring its schema up to date (or check it), once."""
    store, _ = await app.open_database(settings)
    await store.close()


@dataclasses.dataclass
class _Worker:
    index: int  # METRICS for the metrics process
    pid: int
    started: float
    ready_fd: int


# The index of the process that serves the workers' metrics (--metrics-listen): a
# child of its own, so the parent never runs a thread while it forks.
METRICS = -1


class Supervisor:
    def __init__(self, settings: Settings, count: int) -> None:
        self.settings = settings
        self.count = count
        self.workers: dict[int, _Worker] = {}
        self._stopping: signal.Signals | None = None
        self._backoff: dict[int, float] = {}

    # Workers

    def _spawn(self, index: int) -> _Worker:
        read_fd, write_fd = os.pipe()
        # Signals wait until the worker has its own handlers (and the parent its record).
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _FORK_BLOCKED)
        try:
            pid = os.fork()
            if pid == 0:  # the worker
                os.close(read_fd)
                for sig in (*_STOP_SIGNALS, signal.SIGCHLD):
                    signal.signal(sig, signal.SIG_DFL)
                # Until app.serve handles it: a SIGHUP before the worker has read its
                # TLS files needs no reload (it reads the new ones).
                signal.signal(signal.SIGHUP, signal.SIG_IGN)
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
                if index == METRICS:
                    self._run_metrics(write_fd)
                self._run_worker(index, write_fd)
        finally:
            if pid != 0:
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        os.close(write_fd)
        worker = _Worker(index, pid, time.monotonic(), read_fd)
        self.workers[pid] = worker
        return worker

    def _run_worker(self, index: int, ready_fd: int) -> NoReturn:
        code = 0

        def ready(port: int) -> None:
            os.write(ready_fd, b"ready\n")
            os.close(ready_fd)

        try:
            asyncio.run(app.serve(self.settings, ready))
        except KeyboardInterrupt:
            code = 130
        except BaseException as exc:  # the process ends here either way
            print(f"modelreg worker {index}: {exc}", file=sys.stderr, flush=True)
            code = 1
        finally:
            sys.stderr.flush()
            os._exit(code)  # no atexit handlers: those belong to the parent (the cluster)

    def _run_metrics(self, ready_fd: int) -> NoReturn:
        """Serve the Prometheus text of every worker (multiprocess mode) until SIGTERM."""
        code = 0
        try:
            from modelreg_server import metrics

            assert self.settings.metrics_listen is not None
            exporter = metrics.start_metrics_server(self.settings.metrics_listen)
            stop = threading.Event()
            for sig in _STOP_SIGNALS:
                signal.signal(sig, lambda *_: stop.set())
            os.write(ready_fd, b"ready\n")
            os.close(ready_fd)
            while not stop.wait(0.5):
                pass
            exporter.stop()
        except BaseException as exc:
            print(f"modelreg metrics: {exc}", file=sys.stderr, flush=True)
            code = 1
        finally:
            sys.stderr.flush()
            os._exit(code)

    def _await_ready(self, workers: list[_Worker], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        waiting = {w.ready_fd: w for w in workers}
        while waiting:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise StartFailed(f"workers not ready within {timeout:g}s")
            readable, _, _ = select.select(list(waiting), [], [], min(remaining, 0.5))
            for fd in readable:
                worker = waiting.pop(fd)
                line = os.read(fd, 64)
                os.close(fd)
                if not line:
                    raise StartFailed(f"worker {worker.index} exited before it was ready")

    # Signals and supervision

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        sig = signal.Signals(signum)
        if self._stopping is None:
            self._stopping = sig
        for pid in list(self.workers):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def _on_hangup(self, signum: int, frame: FrameType | None) -> None:
        for pid, worker in list(self.workers.items()):
            if worker.index != METRICS:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGHUP)

    def _reap(self) -> list[tuple[_Worker, int]]:
        dead = []
        while self.workers:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            worker = self.workers.pop(pid, None)
            if worker is not None:
                dead.append((worker, status))
                if worker.index != METRICS:
                    metrics.mark_process_dead(pid)  # its live gauges no longer count
        return dead

    def _replace(self, worker: _Worker, status: int) -> None:
        lived = time.monotonic() - worker.started
        how = (
            f"signal {signal.Signals(os.WTERMSIG(status)).name}"
            if os.WIFSIGNALED(status)
            else f"exit code {os.waitstatus_to_exitcode(status)}"
        )
        delay = 0.0
        if lived < _STABLE_S:
            delay = min(_MAX_BACKOFF_S, max(0.5, 2 * self._backoff.get(worker.index, 0.25)))
        self._backoff[worker.index] = delay
        log.warning(
            "%s (pid %d) died after %.1fs (%s); starting a new one%s",
            "the metrics process" if worker.index == METRICS else f"worker {worker.index}",
            worker.pid,
            lived,
            how,
            f" in {delay:.1f}s" if delay else "",
        )
        with contextlib.suppress(OSError):
            os.close(worker.ready_fd)
        deadline = time.monotonic() + delay
        while self._stopping is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if self._stopping is None:
            self._spawn(worker.index)

    def run(self, ready: Callable[[], None]) -> int:
        previous = {sig: signal.signal(sig, self._on_signal) for sig in _STOP_SIGNALS}
        previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, self._on_hangup)
        try:
            first = [self._spawn(i) for i in range(self.count)]
            if self.settings.metrics_listen is not None:
                first.append(self._spawn(METRICS))
            try:
                self._await_ready(first, READY_TIMEOUT_S)
            except StartFailed:
                if self._stopping is None:
                    self._on_signal(signal.SIGTERM, None)
                    self._wait_all(STOP_FAILED_S)
                    raise
            if self._stopping is None:
                ready()
            while self._stopping is None:
                for worker, status in self._reap():
                    self._replace(worker, status)
                time.sleep(0.1)
            settings = self.settings
            drain = settings.shutdown_drain_s if self._stopping == signal.SIGTERM else 0.0
            self._wait_all(drain + settings.shutdown_grace_s + 10.0)
            return 0
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _wait_all(self, bound: float) -> None:
        deadline = time.monotonic() + bound
        while self.workers and time.monotonic() < deadline:
            for worker, status in self._reap():
                if os.WIFSIGNALED(status) or os.waitstatus_to_exitcode(status) not in (0, 130):
                    log.warning(
                        "worker %d (pid %d) ended badly: %d", worker.index, worker.pid, status
                    )
            time.sleep(0.05)
        for pid in list(self.workers):
            log.warning("worker pid %d did not stop in %.0fs; killing it", pid, bound)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
            self.workers.pop(pid, None)


def serve(settings: Settings, on_ready: Callable[[str], None]) -> int:
    """Run ``settings.workers`` server processes until SIGTERM or SIGINT.

    ``on_ready`` gets the shared ``host:port`` once every worker serves."""
    if settings.tls_cert is not None and settings.tls_key is not None:
        # Bad files fail here, once, naming the file (not once per worker); no gRPC
        # object is made before the fork.
        tls.load(tls.TlsFiles(settings.tls_cert, settings.tls_key, settings.tls_client_ca))
    embedded: EmbeddedPostgres | None = None
    url = settings.database_url
    if url is None:
        embedded = start_embedded(settings.data_dir)
        url = embedded.url
    try:
        # The embedded cluster is always brought up to date; a server given by URL only
        # with --migrate (the workers then only check the schema).
        migrate = settings.migrate or embedded is not None
        asyncio.run(_prepare(dataclasses.replace(settings, database_url=url, migrate=migrate)))
        reserved, listen = _reserve_port(settings.listen)
        with reserved:
            worker_settings = dataclasses.replace(
                settings, database_url=url, listen=listen, migrate=False
            )
            supervisor = Supervisor(worker_settings, settings.workers)
            return supervisor.run(lambda: on_ready(listen))
    finally:
        if embedded is not None:
            embedded.stop()
