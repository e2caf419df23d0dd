"""The per-call pipeline's figures (transport/calls.py), as ratios measured in the run.

    python -m bench.calls_bench [--quick]
    MODELREG_BENCH_DATABASE_URL=postgresql://... python -m bench.calls_bench

1. Cost per call: a unary echo served through the pipeline (admission, size check,
   quota, parse, error mapping, metrics, log level check) against the bare echo of
   bench/harness.py, interleaved in blocks.
2. Memory under a burst: for each request size, a fresh server process; eight
   threads send invalid CreateModelVersion requests of that size (three each)
   while the main thread times unrelated GetProject calls. Printed: RSS idle, peak
   (VmHWM), RSS 5 s after the burst, and the unrelated calls' p50 against their
   idle p50 (tests/test_memory_e2e.py holds the 15 MB case to 300 MB and 3x).

The figures are a report, not a test; every call has a deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, wrappers_pb2
from google.protobuf.descriptor import ServiceDescriptor

from bench.harness import ECHO_METHOD, ECHO_PAYLOAD, echo_server, measure, print_table
from bench.registry_bench import database_server
from modelreg.api.v1 import registry_service_pb2 as rpc
from modelreg.api.v1 import registry_service_pb2_grpc as rpc_grpc
from modelreg.api.v1 import resources_pb2 as pb
from modelreg_server.domain.access import Permission
from modelreg_server.permissions import Rule
from modelreg_server.testing import fresh_database
from modelreg_server.transport import calls

TIMEOUT_S = 60.0
Text = wrappers_pb2.StringValue
SERVICE = "bench.PipelineEcho"
ACTOR = (("modelreg-actor", "bench"),)
# (name, params in the request): ~15 MB is over the hard cap (refused by gRPC core),
# ~6 MB over the registry limit (refused by the pipeline), ~3.9 MB under it (parsed,
# then refused by validation: more than 1,000 params).
BURSTS = (("15 MB", 170_000), ("6 MB", 70_000), ("3.9 MB", 45_000))
_READY = re.compile(r"^modelreg serving on (127\.0\.0\.1:\d+)$")


# 1. Cost per call


def _descriptor() -> ServiceDescriptor:
    pool = descriptor_pool.Default()
    try:
        return pool.FindServiceByName(SERVICE)
    except KeyError:
        pass
    file = descriptor_pb2.FileDescriptorProto(
        name="bench/pipeline_echo.proto",
        package="bench",
        dependency=["google/protobuf/wrappers.proto"],
        syntax="proto3",
    )
    file.service.add(name="PipelineEcho").method.add(
        name="Echo",
        input_type=".google.protobuf.StringValue",
        output_type=".google.protobuf.StringValue",
    )
    pool.Add(file)
    return pool.FindServiceByName(SERVICE)


class _Echo:
    async def Echo(self, request: Text, context: Any) -> Text:
        return request


@contextmanager
def pipeline_echo() -> Iterator[str]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> tuple[Any, int]:
        pipeline = calls.Pipeline(calls.Limits(200, 32 << 20, {}), {"pipelineecho": 4 << 20})
        pipeline.add(_descriptor(), _Echo(), {"Echo": Rule(Permission.CALLER, None)})
        server = grpc.aio.server(handlers=(pipeline.generic_handler(),))
        port: int = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        return server, port

    server, port = asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=30)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(0), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)


def cost(calls_n: int) -> None:
    with (
        echo_server() as bare,
        pipeline_echo() as target,
        grpc.insecure_channel(bare.target) as echo_channel,
        grpc.insecure_channel(target) as channel,
    ):
        echo_stub = echo_channel.unary_unary(ECHO_METHOD)
        stub = channel.unary_unary(
            f"/{SERVICE}/Echo",
            request_serializer=Text.SerializeToString,
            response_deserializer=Text.FromString,
        )
        message = Text(value="x" * 60)  # about ECHO_PAYLOAD's size on the wire

        def echo(_: int) -> object:
            return echo_stub(ECHO_PAYLOAD, timeout=TIMEOUT_S)

        def through(_: int) -> object:
            return stub(message, timeout=TIMEOUT_S)

        result = measure(
            "pipeline-echo",
            through,
            calls_n,
            echo,
            calls_n,
            rounds=10,
            warmup=100,
            max_seconds=120,
        )
    print_table([result.echo or result, result])


# 2. Memory under a burst


def _mb(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _payload(params: int) -> bytes:
    version = pb.ModelVersion(artifact=pb.Artifact(uri="s3://b/x"))
    for i in range(params):
        version.params[f"p{i:07d}_" + "k" * 40].string_value = "v" * 30
    request = rpc.CreateModelVersionRequest(parent="projects/p/models/m", model_version=version)
    return request.SerializeToString()


def _start_server(url: str, cwd: str) -> tuple[subprocess.Popen[str], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELREG_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelreg_server", "--listen", "127.0.0.1:0", "--database-url", url],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        text=True,
        cwd=cwd,
        env=env,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        match = _READY.match(line.strip())
        if match:
            return proc, match.group(1)
    raise RuntimeError(f"server exited with {proc.wait(timeout=30)}")


def burst(url: str, name: str, params: int, idle_calls: int) -> None:
    payload = _payload(params)
    with tempfile.TemporaryDirectory() as cwd:
        proc, target = _start_server(url, cwd)
        try:
            with grpc.insecure_channel(target) as channel:
                stub = rpc_grpc.RegistryServiceStub(channel)
                project = f"burst{time.monotonic_ns()}"
                stub.CreateProject(
                    rpc.CreateProjectRequest(project_id=project), metadata=ACTOR, timeout=TIMEOUT_S
                )
                get = rpc.GetProjectRequest(name=f"projects/{project}")

                def timed() -> float:
                    start = time.perf_counter()
                    stub.GetProject(get, timeout=TIMEOUT_S)
                    return time.perf_counter() - start

                for _ in range(20):
                    timed()
                idle = [timed() for _ in range(idle_calls)]
                idle_rss = _mb(proc.pid, "VmRSS")
                codes: list[str] = []

                def send() -> None:
                    options = [("grpc.max_send_message_length", 64 << 20)]
                    with grpc.insecure_channel(target, options=options) as own:
                        create = own.unary_unary(
                            "/modelreg.api.v1.RegistryService/CreateModelVersion"
                        )
                        for _ in range(3):
                            try:
                                create(payload, metadata=ACTOR, timeout=TIMEOUT_S)
                                codes.append("OK")
                            except grpc.RpcError as exc:
                                codes.append(exc.code().name)

                senders = [threading.Thread(target=send) for _ in range(8)]
                for t in senders:
                    t.start()
                busy: list[float] = []
                while len(busy) < 20 or any(t.is_alive() for t in senders):
                    busy.append(timed())
                peak = _mb(proc.pid, "VmHWM")
                time.sleep(5)
                after = _mb(proc.pid, "VmRSS")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    ratio = statistics.median(busy) / statistics.median(idle)
    print(
        f"{name:<8} {len(payload) / 1e6:>6.1f} {idle_rss:>8.0f} {peak:>8.0f} {after:>8.0f} "
        f"{ratio:>8.1f}x  {', '.join(sorted(set(codes)))}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a tenth of the calls")
    args = parser.parse_args(argv)
    print("1. cost per call: echo through the pipeline against the bare echo")
    cost(300 if args.quick else 3000)
    print("2. memory under a burst of 8 x 3 invalid CreateModelVersion requests")
    print(
        f"{'request':<8} {'MB':>6} {'idle MB':>8} {'peak MB':>8} {'5s on':>8} {'get p50':>9}  codes"
    )
    with database_server() as db, fresh_database(db.admin_url) as url:
        for name, params in BURSTS:
            burst(url, name, params, 50 if args.quick else 300)
    return 0


if __name__ == "__main__":
    sys.exit(main())
