"""The tracking bench's whole run, call by call, against a bare gRPC echo measured in
the same run.

    python -m bench.whole_run [--runs 300] [--listed 0]

PostgreSQL as for bench/registry_bench.py: $MODELREG_BENCH_DATABASE_URL, else
$MODELREG_TEST_DATABASE_URL, else a throwaway embedded cluster. The modelreg server
(on a fresh database), the bare echo server of bench/harness.py and one sync client
live in this process. Each run of bench/tracking_bench.py's ``whole-run`` (enter:
CreateRun with 10 params; 50 points buffered; a version registered from the run;
exit: EndRun with the 50 points) is timed piece by piece, then a plain registration
(no references) for comparison, in blocks interleaved with blocks of echo calls.
``--listed`` first makes that many runs in the project, as the tracking bench does.

A report, not a test.
"""

from __future__ import annotations

import argparse
import gc
import time
import uuid

import grpc

import modelreg
from bench.harness import ECHO_METHOD, ECHO_PAYLOAD, ROUNDS, echo_server, share
from bench.registry_bench import database_server
from bench.tracking_bench import METRICS50, PARAMS10
from modelreg_server.testing import fresh_database, running_server

TIMEOUT_S = 30.0
PIECES = ("whole-run", "enter", "log_metrics", "register", "exit", "create-version")


def _p50_ms(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[len(ordered) // 2] * 1000 if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=300, help="timed runs (default 300)")
    parser.add_argument("--listed", type=int, default=0, help="runs made first (default 0)")
    args = parser.parse_args()
    with (
        database_server() as db,
        fresh_database(db.admin_url) as url,
        running_server(url) as server,
        echo_server() as echo,
        modelreg.Client(server.target, actor="bench", timeout=TIMEOUT_S) as client,
        grpc.insecure_channel(echo.target) as channel,
    ):
        echo_stub = channel.unary_unary(ECHO_METHOD)
        project = f"bench_{uuid.uuid4().hex[:8]}"
        client.create_project(project)
        for i in range(args.listed):
            with client.start_run(project, experiment="listed", params={"lr": 0.1}) as listed:
                listed.log_metrics({"bleu": 20.0}, step=1)
                listed.register_model_version("run_outputs", artifact_uri=f"s3://bench/l{i}.pt")
        samples: dict[str, list[float]] = {name: [] for name in (*PIECES, "echo")}
        clock = time.perf_counter

        def one(i: int, keep: bool) -> None:
            t0 = clock()
            run = client.start_run(project, params=PARAMS10)
            run.__enter__()
            t1 = clock()
            run.log_metrics(METRICS50, step=1)
            t2 = clock()
            run.register_model_version("whole", artifact_uri=f"s3://bench/w{i}.pt")
            t3 = clock()
            run.__exit__(None, None, None)
            t4 = clock()
            client.register_model_version(project, "plain", artifact_uri=f"s3://bench/p{i}.pt")
            t5 = clock()
            if keep:
                times = (t4 - t0, t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)
                for name, seconds in zip(PIECES, times, strict=True):
                    samples[name].append(seconds)

        warmup = max(10, args.runs // 10)
        for i in range(warmup):
            one(i, keep=False)
            echo_stub(ECHO_PAYLOAD, timeout=TIMEOUT_S)
        gc.collect()
        done = warmup
        for r in range(ROUNDS):
            n = share(args.runs, ROUNDS, r)
            for _ in range(2 * n):
                t = clock()
                echo_stub(ECHO_PAYLOAD, timeout=TIMEOUT_S)
                samples["echo"].append(clock() - t)
            for i in range(done, done + n):
                one(i, keep=True)
            done += n
        echo_ms = _p50_ms(samples["echo"])
        print(f"{'piece':<15} {'p50 ms':>8} {'p50/echo':>9}")
        for name, values in samples.items():
            print(f"{name:<15} {_p50_ms(values):>8.3f} {_p50_ms(values) / echo_ms:>8.2f}x")


if __name__ == "__main__":
    main()
