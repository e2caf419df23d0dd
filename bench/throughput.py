"""Create-version throughput of ``modelreg serve --workers N`` under concurrent load,
against a bare gRPC echo under the same load, in the same run.

Each server is a real ``python -m modelreg_server`` process on 127.0.0.1:0; the load
comes from ``--clients`` client processes (spawned, not forked: the bench process
already holds gRPC objects), each with one ``modelreg.Client`` calling in a loop.
A figure is calls/s over all clients; its ratio is against the echo's calls/s under
the same clients. Every run is bounded by a call count and a time limit.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.synchronize import Event

import grpc

import modelreg
from bench.harness import ECHO_METHOD, ECHO_PAYLOAD, echo_server

CALL_TIMEOUT_S = 30.0
_READY = re.compile(r"^modelreg serving on (\S+)$")


@dataclass(frozen=True)
class Throughput:
    name: str
    calls: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.calls / self.seconds if self.seconds else 0.0


@contextmanager
def server_process(database_url: str, workers: int) -> Iterator[str]:
    """``python -m modelreg_server --workers N`` on a free port; its ``host:port``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELREG_")}
    env["MODELREG_SHUTDOWN_DRAIN"] = "0"
    env["MODELREG_LOG_LEVEL"] = "WARNING"
    args = ["--listen", "127.0.0.1:0", "--database-url", database_url, "--workers", str(workers)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelreg_server", *args],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        target = None
        for line in proc.stdout:
            match = _READY.match(line.strip())
            if match:
                target = match.group(1)
                break
        if target is None:
            raise RuntimeError(f"server with --workers {workers} exited with {proc.wait()}")
        yield target
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _client(
    target: str, kind: str, project: str, calls: int, max_seconds: float, go: Event, out: object
) -> None:
    """One client process: ``calls`` calls (or until ``max_seconds``) once ``go`` is set."""
    done = 0
    go.wait(60)
    started = time.perf_counter()
    if kind == "echo":
        with grpc.insecure_channel(target) as channel:
            echo = channel.unary_unary(ECHO_METHOD)
            while done < calls and time.perf_counter() - started < max_seconds:
                echo(ECHO_PAYLOAD, timeout=CALL_TIMEOUT_S)
                done += 1
    else:
        tag = uuid.uuid4().hex[:6]
        with modelreg.Client(target, actor="bench", timeout=CALL_TIMEOUT_S) as client:
            while done < calls and time.perf_counter() - started < max_seconds:
                client.register_model_version(
                    project, "throughput", artifact_uri=f"s3://b/{tag}-{done}.pt"
                )
                done += 1
    out.put((done, time.perf_counter() - started))  # type: ignore[attr-defined]


def drive(
    name: str, target: str, kind: str, project: str, clients: int, calls: int, max_seconds: float
) -> Throughput:
    """``clients`` processes released together; calls/s over all of them."""
    ctx = multiprocessing.get_context("spawn")
    go = ctx.Event()
    out = ctx.Queue()
    procs = [
        ctx.Process(
            target=_client, args=(target, kind, project, calls, max_seconds, go, out), daemon=True
        )
        for _ in range(clients)
    ]
    for p in procs:
        p.start()
    time.sleep(1.0)  # let every client import and connect before the start
    go.set()
    results = [out.get(timeout=max_seconds + 120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    return Throughput(name, sum(n for n, _ in results), max(s for _, s in results))


def run(database_url: str, *, clients: int, calls: int, max_seconds: float) -> list[Throughput]:
    """Echo, then ``--workers 1`` and ``--workers 2`` on the same database."""
    results = []
    with echo_server() as echo:
        results.append(drive("echo", echo.target, "echo", "", clients, calls * 2, max_seconds))
    for workers in (1, 2):
        with server_process(database_url, workers) as target:
            project = f"bench_tp_{uuid.uuid4().hex[:8]}"
            with modelreg.Client(target, actor="bench") as setup:
                setup.create_project(project)
            print(f"  measuring create-version with --workers {workers} ...", flush=True)
            results.append(
                drive(
                    f"create --workers {workers}",
                    target,
                    "create",
                    project,
                    clients,
                    calls,
                    max_seconds,
                )
            )
    return results


def print_throughput(results: list[Throughput], clients: int) -> None:
    echo = results[0]
    print(f"throughput ({clients} client processes, each one Client calling in a loop)")
    print(f"  {'operation':<20} {'calls':>7} {'seconds':>8} {'calls/s':>9} {'vs echo':>8}")
    for r in results:
        print(
            f"  {r.name:<20} {r.calls:>7} {r.seconds:>8.2f} {r.rate:>9.0f} "
            f"{r.rate / echo.rate:>7.2f}x"
        )
    by_name = {r.name: r for r in results}
    one, two = by_name.get("create --workers 1"), by_name.get("create --workers 2")
    if one and two and one.rate:
        print(f"  --workers 2 makes {two.rate / one.rate:.2f}x the calls/s of --workers 1")
    print(
        "  the echo server runs in the bench process on one event loop; the client processes"
        " share the machine's cores with the servers"
    )
    print()
