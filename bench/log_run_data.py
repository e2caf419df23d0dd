"""LogRunData throughput through the generated stub: a server in a process of its
own (as in production) on a fresh database, this process as the client, calls of
``--points`` metric points (50 keys, a time on each), ``--in-flight`` at a time.

    python -m bench.log_run_data [--points 10000] [--calls 40] [--in-flight 1]
                                 [--request-ids]

Needs MODELREG_TEST_DATABASE_URL (a PostgreSQL server). Prints points/s and the
median call time. Requests are built before the clock starts: this measures the
server, not the building of messages."""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection

import grpc

from modelreg.api.v1 import registry_service_pb2 as reg
from modelreg.api.v1 import registry_service_pb2_grpc as reg_grpc
from modelreg.api.v1 import tracking_service_pb2 as rpc
from modelreg.api.v1 import tracking_service_pb2_grpc as rpc_grpc

KEYS = 50


def _serve(url: str, pipe: Connection) -> None:
    from modelreg_server.testing import fresh_database, running_server

    with fresh_database(url) as db, running_server(db) as server:
        pipe.send(server.target)
        pipe.recv()


def _request(run: str, call: int, points: int, request_id: bool) -> rpc.LogRunDataRequest:
    request = rpc.LogRunDataRequest(run=run, request_id=f"call-{call}" if request_id else "")
    now = time.time()
    seconds, nanos = int(now), int(now % 1 * 1e9)
    first = call * points // KEYS
    for i in range(points):
        m = request.metrics.add(
            key=f"metric_{i % KEYS}", value=random.random(), step=first + i // KEYS
        )
        m.time.seconds = seconds
        m.time.nanos = nanos
    return request


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--in-flight", type=int, default=1)
    parser.add_argument("--request-ids", action="store_true")
    args = parser.parse_args()
    url = os.environ["MODELREG_TEST_DATABASE_URL"]
    mine, theirs = multiprocessing.Pipe()
    server = multiprocessing.get_context("spawn").Process(target=_serve, args=(url, theirs))
    server.start()
    try:
        target = mine.recv()
        with grpc.insecure_channel(target) as channel:
            reg_grpc.RegistryServiceStub(channel).CreateProject(
                reg.CreateProjectRequest(project_id="bench")
            )
            stub = rpc_grpc.TrackingServiceStub(channel)
            run = stub.CreateRun(rpc.CreateRunRequest(parent="projects/bench")).name
            for warm in range(3):
                stub.LogRunData(_request(run, args.calls + warm, args.points, args.request_ids))
            requests = [_request(run, c, args.points, args.request_ids) for c in range(args.calls)]
            took: list[float] = []

            def call(request: rpc.LogRunDataRequest) -> None:
                start = time.perf_counter()
                stub.LogRunData(request, timeout=120)
                took.append(time.perf_counter() - start)

            start = time.perf_counter()
            with ThreadPoolExecutor(args.in_flight) as pool:
                list(pool.map(call, requests))
            elapsed = time.perf_counter() - start
    finally:
        mine.send("stop")
        server.join()
    print(
        f"LogRunData: {args.calls} calls of {args.points} points, {args.in_flight} in flight, "
        f"request ids {'on' if args.request_ids else 'off'}: "
        f"{args.calls * args.points / elapsed:,.0f} points/s, "
        f"median call {statistics.median(took) * 1e3:.1f} ms"
    )


if __name__ == "__main__":
    main()
