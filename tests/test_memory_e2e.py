"""Bounded memory under a burst of large invalid requests (the acceptance test of
the memory limits): eight threads each send ~15 MB CreateModelVersion requests to
a server process while a ninth times unrelated GetProject calls.

Before the limits the server went from ~80 MB to ~1.5 GB and stayed there. Now the
peak (VmHWM) stays under 300 MB and the unrelated calls' p50 within 3x of the same
calls' p50 when idle, measured in this test (a ratio, not a wall-clock figure;
bench/ has the precise figures)."""

from __future__ import annotations

import statistics
import threading
import time
from pathlib import Path

import grpc
import pytest

from modelreg.api.v1 import registry_service_pb2 as rpc
from modelreg.api.v1 import registry_service_pb2_grpc as rpc_grpc
from modelreg.api.v1 import resources_pb2 as pb
from tests.support import ACTOR, ServerProcess

SENDERS = 8
ROUNDS = 3
IDLE_CALLS = 200
TIMEOUT_S = 60.0
# The client may send what it likes: the server is the one that must refuse.
CLIENT_OPTIONS = [("grpc.max_send_message_length", 64 << 20)]


def _mb(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no {key} in /proc/{pid}/status")


def _invalid_request() -> bytes:
    """~15 MB: far more params than the 1,000 allowed."""
    version = pb.ModelVersion(artifact=pb.Artifact(uri="s3://b/x"))
    for i in range(170_000):
        version.params[f"p{i:07d}_" + "k" * 40].string_value = "v" * 30
    request = rpc.CreateModelVersionRequest(parent="projects/p/models/m", model_version=version)
    return request.SerializeToString()


@pytest.mark.slow
def test_a_burst_of_large_invalid_requests_keeps_memory_and_latency_bounded(
    database_url: str, tmp_path: Path
) -> None:
    payload = _invalid_request()
    assert 14 << 20 < len(payload) < 17 << 20
    server = ServerProcess(["--database-url", database_url], cwd=tmp_path, log=tmp_path / "log")
    try:
        target = server.wait_ready()
        pid = server.proc.pid
        with grpc.insecure_channel(target) as channel:
            stub = rpc_grpc.RegistryServiceStub(channel)
            project = f"mem{time.monotonic_ns()}"
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
            idle = [timed() for _ in range(IDLE_CALLS)]
            idle_rss = _mb(pid, "VmRSS")

            codes: list[grpc.StatusCode] = []

            def send() -> None:
                with grpc.insecure_channel(target, options=CLIENT_OPTIONS) as own:
                    create = own.unary_unary("/modelreg.api.v1.RegistryService/CreateModelVersion")
                    for _ in range(ROUNDS):
                        try:
                            create(payload, metadata=ACTOR, timeout=TIMEOUT_S)
                        except grpc.RpcError as exc:
                            codes.append(exc.code())
                        else:
                            codes.append(grpc.StatusCode.OK)

            senders = [threading.Thread(target=send) for _ in range(SENDERS)]
            for t in senders:
                t.start()
            busy: list[float] = []
            # At least a few unrelated calls, and on until the burst is over (bounded by
            # the senders' deadlines).
            while len(busy) < 20 or any(t.is_alive() for t in senders):
                busy.append(timed())
            for t in senders:
                t.join(timeout=TIMEOUT_S)
        peak = _mb(pid, "VmHWM")
    finally:
        assert server.stop() == 0, server.stderr_tail()

    assert peak < 300, f"peak RSS {peak:.0f} MB (idle {idle_rss:.0f} MB)"
    ratio = statistics.median(busy) / statistics.median(idle)
    assert ratio <= 3.0, f"unrelated calls' p50 {ratio:.1f}x idle during the burst"
    assert codes == [grpc.StatusCode.RESOURCE_EXHAUSTED] * (SENDERS * ROUNDS)
