"""Bytes that do not parse as the method's request message are INVALID_ARGUMENT
with a BadRequest violation on ``request`` (not UNKNOWN with the parser's text),
and the server logs one short line for each, without a traceback."""

from __future__ import annotations

import logging
import time

import grpc
import pytest
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from modelreg.api.v1 import registry_service_pb2 as rpc
from tests.support import call_lines

GARBAGE = b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"
METHOD = "/modelreg.api.v1.RegistryService/GetProject"


def violations(exc: grpc.RpcError) -> dict[str, str]:
    status = rpc_status.from_call(exc)
    assert status is not None, "no google.rpc.Status in the trailers"
    bad = error_details_pb2.BadRequest()
    assert any(d.Unpack(bad) for d in status.details if d.Is(bad.DESCRIPTOR))
    return {v.field: v.description for v in bad.field_violations}


def test_garbage_bytes_are_invalid_argument_naming_the_request(
    target: str, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(DecodeError):
        rpc.GetProjectRequest.FromString(GARBAGE)  # really not a message
    started = time.time()
    with (
        grpc.insecure_channel(target) as channel,
        caplog.at_level(logging.WARNING),
        pytest.raises(grpc.RpcError) as caught,
    ):
        channel.unary_unary(METHOD)(GARBAGE, timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    found = violations(caught.value)
    assert list(found) == ["request"]
    assert "modelreg.api.v1.GetProjectRequest" in found["request"]

    lines = call_lines(caplog.records, "RegistryService/GetProject", started)
    assert [(r.levelname, r.exc_info, r.__dict__["code"]) for r in lines] == [
        ("WARNING", None, "INVALID_ARGUMENT")
    ]
