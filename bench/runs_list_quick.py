"""runs-list-1000 alone, in a minute: the 1,000 listed runs of bench/tracking_bench.py
on a fresh database, then the figure against a bare gRPC echo (bench/harness.py),
measured ``--repeat`` times (the machine is shared: look at all of them).

    MODELREG_BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python -m bench.runs_list_quick --repeat 5
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import grpc

import modelreg
from bench import tracking_bench
from bench.harness import ECHO_METHOD, ECHO_PAYLOAD, echo_server, measure
from bench.registry_bench import CALL_TIMEOUT_S, database_server
from modelreg_server.testing import fresh_database, running_server

TARGET = dict(tracking_bench.TARGETS)["runs-list-1000"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.runs_list_quick")
    parser.add_argument("--repeat", type=int, default=3, help="figures to measure (default 3)")
    parser.add_argument("--calls", type=int, default=30, help="listings per figure (default 30)")
    args = parser.parse_args(argv)
    with (
        database_server() as db,
        fresh_database(db.admin_url) as url,
        running_server(url) as server,
        echo_server() as echo,
        modelreg.Client(server.target, actor="bench", timeout=CALL_TIMEOUT_S) as client,
        grpc.insecure_channel(echo.target) as channel,
    ):
        project = "bench"
        client.create_project(project)
        tracking_bench.listed_runs(client, project)
        echo_stub = channel.unary_unary(ECHO_METHOD)

        def call_echo(_: int) -> object:
            return echo_stub(ECHO_PAYLOAD, timeout=CALL_TIMEOUT_S)

        def listed(_: int) -> object:
            return tracking_bench.list_listed(client, project)

        for i in range(200):
            call_echo(i)
        for _ in range(args.repeat):
            r = measure(
                "runs-list-1000",
                listed,
                args.calls,
                call_echo,
                args.calls * 10,
                rounds=10,
                warmup=3,
                max_seconds=120.0,
            )
            echo_ms = r.echo.percentile_ms(50) if r.echo is not None else float("nan")
            print(
                f"runs-list-1000 p50 {r.percentile_ms(50):.2f} ms, echo p50 {echo_ms:.3f} ms: "
                f"{r.ratio:.1f}x echo (target <= {TARGET:g}x)",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
