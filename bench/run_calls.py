"""The run mutations one by one, each against a bare gRPC echo measured in the same run.

    python -m bench.run_calls [--calls 1000] [--no-request-ids]

PostgreSQL as for bench/registry_bench.py: $MODELREG_BENCH_DATABASE_URL, else
$MODELREG_TEST_DATABASE_URL, else a throwaway embedded cluster.

The modelreg server (on a fresh database), the bare echo server of bench/harness.py
and one generated sync stub all live in this process; every call is timed alone, in
blocks interleaved with echo blocks (bench/harness.py ``measure``). Requests are
built before the clock starts and carry a request_id each, as the SDK's do.

- create-run: CreateRun with 10 params, no inputs, a server-made run id.
- log-50: LogRunData of 50 points (50 keys, one step, a time on each) to one run.
- end-50: EndRun(SUCCEEDED) of a fresh run, carrying 50 points (what a buffering
  client sends last).
- end: EndRun(SUCCEEDED) of a fresh run, no data.

The figures are a report, not a test: a missed target prints MISS.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections.abc import Sequence

import grpc

from bench.harness import (
    ECHO_METHOD,
    ECHO_PAYLOAD,
    ROUNDS,
    Result,
    echo_server,
    measure,
    pooled,
    print_table,
)
from bench.registry_bench import database_server
from modelreg.api.v1 import registry_service_pb2 as reg
from modelreg.api.v1 import registry_service_pb2_grpc as reg_grpc
from modelreg.api.v1 import resources_pb2 as pb
from modelreg.api.v1 import tracking_service_pb2 as rpc
from modelreg.api.v1 import tracking_service_pb2_grpc as rpc_grpc
from modelreg_server.testing import fresh_database, running_server

TIMEOUT_S = 30.0
ACTOR = (("modelreg-actor", "bench"),)
KEYS = 50
# (operation, max p50 ratio against the echo p50)
TARGETS: tuple[tuple[str, float], ...] = (("create-run", 2.3), ("log-50", 2.5), ("end-50", 2.5))
PARAMS10: dict[str, pb.ParamValue] = {
    "lr": pb.ParamValue(float_value=0.01), "epochs": pb.ParamValue(int_value=10),
    "batch_size": pb.ParamValue(int_value=32), "dropout": pb.ParamValue(float_value=0.1),
    "warmup": pb.ParamValue(int_value=400), "optimizer": pb.ParamValue(string_value="adamw"),
    "layers": pb.ParamValue(int_value=6), "heads": pb.ParamValue(int_value=8),
    "fp16": pb.ParamValue(bool_value=True), "seed": pb.ParamValue(int_value=7),
}  # fmt: skip


def _rid(on: bool) -> str:
    return uuid.uuid4().hex if on else ""


def _points(step: int) -> list[pb.Metric]:
    now = time.time()
    seconds, nanos = int(now), int(now % 1 * 1e9) // 1000 * 1000
    points = []
    for k in range(KEYS):
        m = pb.Metric(key=f"m{k:02d}", value=0.5 + k / 100 + step / 1e6, step=step)
        m.time.seconds, m.time.nanos = seconds, nanos
        points.append(m)
    return points


def run(calls: int, request_ids: bool) -> list[Result]:
    warmup = max(5, calls // 10)
    total = warmup + calls
    with (
        database_server() as db,
        fresh_database(db.admin_url) as url,
        running_server(url) as server,
        echo_server() as echo,
        grpc.insecure_channel(server.target) as channel,
        grpc.insecure_channel(echo.target) as echo_channel,
    ):
        project = f"bench_{uuid.uuid4().hex[:8]}"
        reg_grpc.RegistryServiceStub(channel).CreateProject(
            reg.CreateProjectRequest(project_id=project), metadata=ACTOR, timeout=TIMEOUT_S
        )
        stub = rpc_grpc.TrackingServiceStub(channel)
        echo_stub = echo_channel.unary_unary(ECHO_METHOD)
        parent = f"projects/{project}"

        def fresh_runs(n: int) -> list[str]:
            return [
                stub.CreateRun(
                    rpc.CreateRunRequest(parent=parent), metadata=ACTOR, timeout=TIMEOUT_S
                ).name
                for _ in range(n)
            ]

        print(f"  preparing {3 * total} requests and {2 * total} runs ...", flush=True)
        creates = [
            rpc.CreateRunRequest(
                parent=parent, run=pb.Run(params=PARAMS10), request_id=_rid(request_ids)
            )
            for _ in range(total)
        ]
        logged = fresh_runs(1)[0]
        logs = [
            rpc.LogRunDataRequest(run=logged, metrics=_points(i), request_id=_rid(request_ids))
            for i in range(total)
        ]
        ends_50 = [
            rpc.EndRunRequest(
                name=name, state=pb.Run.SUCCEEDED, metrics=_points(1), request_id=_rid(request_ids)
            )
            for name in fresh_runs(total)
        ]
        ends = [
            rpc.EndRunRequest(name=name, state=pb.Run.SUCCEEDED, request_id=_rid(request_ids))
            for name in fresh_runs(total)
        ]

        def echo_call(_: int) -> object:
            return echo_stub(ECHO_PAYLOAD, timeout=TIMEOUT_S)

        operations = [
            ("create-run", lambda i: stub.CreateRun(creates[i], metadata=ACTOR, timeout=TIMEOUT_S)),
            ("log-50", lambda i: stub.LogRunData(logs[i], metadata=ACTOR, timeout=TIMEOUT_S)),
            ("end-50", lambda i: stub.EndRun(ends_50[i], metadata=ACTOR, timeout=TIMEOUT_S)),
            ("end", lambda i: stub.EndRun(ends[i], metadata=ACTOR, timeout=TIMEOUT_S)),
        ]
        for i in range(200):
            echo_call(i)
        results = []
        for name, call in operations:
            print(f"  measuring {name}: {calls} calls after {warmup} warm-up ...", flush=True)
            results.append(
                measure(
                    name,
                    call,
                    calls,
                    echo_call,
                    calls,
                    rounds=ROUNDS,
                    warmup=warmup,
                    max_seconds=300,
                )
            )
    echo_all = pooled("echo", [r.echo for r in results if r.echo is not None])
    return [echo_all, *results]


def print_targets(results: Sequence[Result]) -> None:
    by_name = {r.name: r for r in results}
    print("targets (p50 against the echo p50 measured alongside)")
    for name, limit in TARGETS:
        r = by_name[name]
        verdict = "PASS" if r.ratio <= limit else "MISS"
        print(f"  {verdict}  {name:<12} {r.percentile_ms(50):.3f} ms = {r.ratio:.2f}x echo "
              f"(target <= {limit:g}x)")  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=1000, help="timed calls per operation")
    parser.add_argument(
        "--no-request-ids", action="store_true", help="send no request_id (the SDK always does)"
    )
    args = parser.parse_args(argv)
    results = run(args.calls, not args.no_request_ids)
    print()
    print_table(results)
    print_targets(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
