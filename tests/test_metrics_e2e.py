"""Prometheus metrics over real HTTP on 127.0.0.1: after real calls to a real
server, the text format shows calls and latency histograms per method and status
code (an error code too), and calls in flight."""

from __future__ import annotations

import socket
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from modelreg.api.v1 import registry_service_pb2 as rpc
from modelreg.api.v1 import registry_service_pb2_grpc as rpc_grpc
from modelreg_server.metrics import MetricsServer, start_metrics_server
from tests.support import ACTOR, ServerProcess

GET = "RegistryService/GetProject"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server: MetricsServer = start_metrics_server("127.0.0.1:0")
    try:
        yield f"http://127.0.0.1:{server.port}/metrics"
    finally:
        server.stop()


def scrape(url: str) -> Samples:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_calls_and_latency_per_method_and_code(endpoint: str, target: str) -> None:
    before = scrape(endpoint)
    with grpc.insecure_channel(target) as channel:
        stub = rpc_grpc.RegistryServiceStub(channel)
        project = stub.CreateProject(
            rpc.CreateProjectRequest(project_id=f"metrics{threading.get_ident()}"),
            metadata=ACTOR,
            timeout=10,
        )
        for _ in range(3):
            stub.GetProject(rpc.GetProjectRequest(name=project.name), timeout=10)
        with pytest.raises(grpc.RpcError):
            stub.GetProject(rpc.GetProjectRequest(name="projects/nosuchproject"), timeout=10)
    # A call is recorded when its task ends, maybe after the client has its answer.
    for _ in range(200):
        after = scrape(endpoint)
        calls = {
            code: value(after, "modelreg_rpc_calls_total", method=GET, code=code)
            - value(before, "modelreg_rpc_calls_total", method=GET, code=code)
            for code in ("OK", "NOT_FOUND")
        }
        if calls == {"OK": 3, "NOT_FOUND": 1}:
            break
        threading.Event().wait(0.01)
    assert calls == {"OK": 3, "NOT_FOUND": 1}
    count = value(after, "modelreg_rpc_duration_seconds_count", method=GET, code="OK")
    assert count - value(before, "modelreg_rpc_duration_seconds_count", method=GET, code="OK") == 3
    buckets = {
        labels: v
        for (name, labels), v in after.items()
        if name == "modelreg_rpc_duration_seconds_bucket"
        and ("method", GET) in labels
        and ("code", "NOT_FOUND") in labels
    }
    assert len(buckets) > 5
    assert max(buckets.values()) >= 1  # the +Inf bucket counts every call
    assert value(after, "modelreg_rpc_in_flight", method=GET) == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_multiprocess_mode_serves_what_the_processes_wrote(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--metrics-listen`` on a server process with PROMETHEUS_MULTIPROC_DIR set:
    the values go through the directory, and the endpoint reads them back."""
    shared = tmp_path / "prometheus"
    shared.mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(shared))  # the child inherits it
    port = _free_port()
    server = ServerProcess(
        ["--database-url", database_url, "--metrics-listen", f"127.0.0.1:{port}"],
        cwd=tmp_path,
        log=tmp_path / "log",
    )
    try:
        target = server.wait_ready()
        with grpc.insecure_channel(target) as channel:
            stub = rpc_grpc.RegistryServiceStub(channel)
            with pytest.raises(grpc.RpcError):
                stub.GetProject(rpc.GetProjectRequest(name="projects/nosuchproject"), timeout=10)
        for _ in range(200):
            samples = scrape(f"http://127.0.0.1:{port}/metrics")
            if value(samples, "modelreg_rpc_calls_total", method=GET, code="NOT_FOUND") == 1:
                break
            threading.Event().wait(0.01)
        assert value(samples, "modelreg_rpc_calls_total", method=GET, code="NOT_FOUND") == 1
        assert any(p.name.startswith("counter_") for p in shared.iterdir())
    finally:
        assert server.stop() == 0, server.stderr_tail()


@pytest.mark.slow
def test_workers_report_through_one_endpoint(database_url: str, tmp_path: Path) -> None:
    """``--workers 2 --metrics-listen``: the server sets up multiprocess mode itself,
    one endpoint sums the calls every worker answered, and reports the database up and
    the connections the workers hold."""
    port = _free_port()
    server = ServerProcess(
        ["--database-url", database_url, "--workers", "2", "--metrics-listen", f"127.0.0.1:{port}"],
        cwd=tmp_path,
        log=tmp_path / "log",
    )
    calls = 12
    try:
        target = server.wait_ready()
        for _ in range(calls):  # a channel each: the kernel spreads them over the workers
            with grpc.insecure_channel(target) as channel:
                stub = rpc_grpc.RegistryServiceStub(channel)
                with pytest.raises(grpc.RpcError):
                    stub.GetProject(rpc.GetProjectRequest(name="projects/nosuch"), timeout=10)
        url = f"http://127.0.0.1:{port}/metrics"
        for _ in range(300):
            samples = scrape(url)
            if value(samples, "modelreg_rpc_calls_total", method=GET, code="NOT_FOUND") == calls:
                break
            threading.Event().wait(0.02)
        assert value(samples, "modelreg_rpc_calls_total", method=GET, code="NOT_FOUND") == calls
        assert value(samples, "modelreg_db_up") == 1
        held = value(samples, "modelreg_db_connections", state="idle") + value(
            samples, "modelreg_db_connections", state="in_use"
        )
        assert held >= 2  # at least one per worker
    finally:
        assert server.stop() == 0, server.stderr_tail()
