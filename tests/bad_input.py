"""Helpers shared by the bad-input end-to-end tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import reduce
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

import modelreg

DOMAIN = "modelreg.dev"
CONFIG_FIELD = "model_version.architecture.config_json"


def nested(levels: int) -> dict[str, Any]:
    """A JSON object ``levels`` objects deep, with a scalar at the bottom."""
    return reduce(lambda inner, _: {"a": inner}, range(levels - 1), {"a": 1})


def raw_failure(
    call: Callable[..., Any], request: Any
) -> tuple[grpc.StatusCode, status_pb2.Status]:
    """Call a generated stub method, expect it to fail, return (code, google.rpc.Status)."""
    with pytest.raises(grpc.RpcError) as info:
        call(request, timeout=10)
    err = info.value
    status = rpc_status.from_call(err)
    assert status is not None, f"no google.rpc.Status in the trailers of {err!r}"
    return err.code(), status


def error_info(status: status_pb2.Status) -> error_details_pb2.ErrorInfo:
    for item in status.details:
        if item.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            item.Unpack(info)
            return info
    raise AssertionError(f"no ErrorInfo in {status}")


def bad_fields(status: status_pb2.Status) -> list[str]:
    fields: list[str] = []
    for item in status.details:
        if item.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            item.Unpack(bad)
            fields.extend(v.field for v in bad.field_violations)
    return fields


def assert_raw_invalid(call: Callable[..., Any], request: Any, field: str) -> status_pb2.Status:
    code, status = raw_failure(call, request)
    assert code == grpc.StatusCode.INVALID_ARGUMENT, status.message
    assert bad_fields(status) == [field], status.message
    info = error_info(status)
    assert info.domain == DOMAIN
    assert info.metadata["field"] == field
    return status


def invalid(fn: Callable[[], Any], field: str) -> modelreg.InvalidArgumentError:
    """Run a client call that must fail with INVALID_ARGUMENT naming ``field``."""
    with pytest.raises(modelreg.InvalidArgumentError) as info:
        fn()
    err = info.value
    assert err.code == grpc.StatusCode.INVALID_ARGUMENT
    assert err.field == field, err.details
    assert err.field_violations[0].description
    assert err.reason  # ErrorInfo arrived
    return err


def versions(client: modelreg.Client, project: str, model: str) -> list[int]:
    return [v.version for v in client.list_model_versions(project, model, show_deleted=True)]


def project_names(client: modelreg.Client, name: str) -> list[str]:
    return [p.name for p in client.list_projects(filter=f"name = {json.dumps(name)}")]


def register(client: modelreg.Client, project: str, model: str = "m", **kw: Any) -> int:
    kw.setdefault("artifact_uri", "s3://bucket/model.pt")
    return client.register_model_version(project, model, **kw).version
