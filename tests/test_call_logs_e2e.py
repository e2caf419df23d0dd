"""``--log-format json``: every line the server writes is one JSON object; each
call writes one line (DEBUG when it succeeds, WARNING without a traceback when it
fails) with its method, code, duration and request id."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import grpc
import pytest

from modelreg.api.v1 import registry_service_pb2 as rpc
from modelreg.api.v1 import registry_service_pb2_grpc as rpc_grpc
from tests.support import ACTOR, ServerProcess


def test_json_lines_with_one_line_per_call(database_url: str, tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    server = ServerProcess(
        ["--database-url", database_url, "--log-format", "json", "--log-level", "DEBUG"],
        cwd=tmp_path,
        log=log,
    )
    request_id = uuid.uuid4().hex
    project_id = f"logs{request_id[:12]}"
    try:
        target = server.wait_ready()
        with grpc.insecure_channel(target) as channel:
            stub = rpc_grpc.RegistryServiceStub(channel)
            stub.CreateProject(
                rpc.CreateProjectRequest(project_id=project_id, request_id=request_id),
                metadata=ACTOR,
                timeout=10,
            )
            with pytest.raises(grpc.RpcError) as caught:
                stub.GetProject(rpc.GetProjectRequest(name=f"projects/{project_id}x"), timeout=10)
            assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    finally:
        assert server.stop() == 0, server.stderr_tail()

    lines: list[dict[str, Any]] = [json.loads(line) for line in log.read_text().splitlines()]
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
    calls = [line for line in lines if "method" in line]
    created, failed = calls  # nothing else was called
    assert created["level"] == "DEBUG"
    assert (created["method"], created["code"], created["request_id"]) == (
        "RegistryService/CreateProject",
        "OK",
        request_id,
    )
    assert created["duration_ms"] > 0
    assert created["peer"].startswith("ipv4:127.0.0.1:")
    assert failed["level"] == "WARNING"
    assert (failed["method"], failed["code"]) == ("RegistryService/GetProject", "NOT_FOUND")
    assert "exc" not in failed
    assert f"projects/{project_id}x" in failed["message"]
    assert [line for line in lines if line["level"] == "WARNING"] == [failed]
