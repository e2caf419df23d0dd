"""The server as users run it: data kept across restarts of the embedded default,
health and reflection always on, an outdated external schema refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

import modelreg
from modelreg_server.testing import fresh_database
from tests.conftest import unique
from tests.support import STOP_TIMEOUT_S, ServerProcess

REGISTRY_SERVICE = "modelreg.api.v1.RegistryService"
RPC_TIMEOUT_S = 10.0


def check_health(target: str, service: str = "") -> int:
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        response = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=RPC_TIMEOUT_S)
        return int(response.status)


@pytest.mark.slow
def test_data_survives_a_restart_of_the_embedded_default(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    project = unique("proj")

    first = ServerProcess(["--data-dir", str(data_dir)], cwd=tmp_path, log=tmp_path / "1.log")
    try:
        target = first.wait_ready()
        with modelreg.Client(target, actor="tester") as client:
            client.create_project(project)
            v = client.register_model_version(
                project, "m", artifact_uri="s3://b/1.pt", params={"lr": 0.01, "epochs": 3}
            )
            client.set_alias(project, "m", "production", v.version, reason="first")
    finally:
        code = first.stop()
    assert code == 0, first.stderr_tail()
    assert (data_dir / "pgdata").is_dir()

    second = ServerProcess(["--data-dir", str(data_dir)], cwd=tmp_path, log=tmp_path / "2.log")
    try:
        target = second.wait_ready()
        assert check_health(target) == health_pb2.HealthCheckResponse.SERVING
        with modelreg.Client(target, actor="tester") as client:
            again = client.get_model_version(project, "m", "production")
            assert again == client.get_model_version(project, "m", 1)
            assert (again.version, again.params, again.artifact.uri, again.aliases) == (
                1,
                {"lr": 0.01, "epochs": 3},
                "s3://b/1.pt",
                ("production",),
            )
            assert again.create_time == v.create_time
            assert [e.reason for e in client.alias_history(project, "m", "production")] == ["first"]
            # The counter survived too: the next number follows on.
            assert (
                client.register_model_version(project, "m", artifact_uri="s3://b/2.pt").version == 2
            )
    finally:
        code = second.stop()
    assert code == 0, second.stderr_tail()


def test_health_answers_serving(target: str) -> None:
    assert check_health(target) == health_pb2.HealthCheckResponse.SERVING
    assert check_health(target, REGISTRY_SERVICE) == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.RpcError) as info:
        check_health(target, "no.such.Service")
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_reflection_lists_the_registry_service(target: str) -> None:
    with grpc.insecure_channel(target) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        responses = list(stub.ServerReflectionInfo(iter([request]), timeout=RPC_TIMEOUT_S))
    assert len(responses) == 1
    services = {s.name for s in responses[0].list_services_response.service}
    assert {REGISTRY_SERVICE, "grpc.health.v1.Health"} <= services


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("MODELREG_")}


@pytest.mark.slow
def test_outdated_external_schema_is_refused_unless_told_to_migrate(
    pg_server_url: str, tmp_path: Path
) -> None:
    with fresh_database(pg_server_url, migrated=False) as url:
        refused = subprocess.run(
            [
                sys.executable,
                "-m",
                "modelreg_server",
                "--listen",
                "127.0.0.1:0",
                "--database-url",
                url,
            ],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=_env(),
            stdin=subprocess.DEVNULL,
            timeout=60,
        )
        assert refused.returncode != 0
        assert "modelreg serving" not in refused.stdout
        assert "modelreg db upgrade" in refused.stderr

        migrating = ServerProcess(
            ["--database-url", url, "--migrate"], cwd=tmp_path, log=tmp_path / "migrate.log"
        )
        try:
            target = migrating.wait_ready()
            with modelreg.Client(target, actor="tester") as client:
                project = unique("proj")
                client.create_project(project)
                assert client.get_project(project).name == project
        finally:
            code = migrating.stop(STOP_TIMEOUT_S)
        assert code == 0, migrating.stderr_tail()
