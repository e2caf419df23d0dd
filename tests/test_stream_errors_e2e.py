"""Error mapping knows streams: a test-only service with every kind of method,
registered through the server's own service table, raises domain errors before,
between and after messages, and each call ends with that error's status.

Wrapped like a unary handler, a streaming method would ``await`` an async
generator and every call would end INTERNAL."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, wrappers_pb2
from google.protobuf.descriptor import ServiceDescriptor
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from modelreg_server import app
from modelreg_server.domain import errors
from modelreg_server.domain.access import Permission
from modelreg_server.permissions import Rule
from modelreg_server.storage.store import Store
from modelreg_server.testing import ServerThread, running_server
from tests.support import call_lines

Text = wrappers_pb2.StringValue
SERVICE = "modelreg_test.v1.StreamErrorService"


def _descriptor() -> ServiceDescriptor:
    pool = descriptor_pool.Default()
    try:
        return pool.FindServiceByName(SERVICE)
    except KeyError:
        pass
    file = descriptor_pb2.FileDescriptorProto(
        name="modelreg_test/v1/stream_error_service.proto",
        package="modelreg_test.v1",
        dependency=["google/protobuf/wrappers.proto"],
        syntax="proto3",
    )
    service = file.service.add(name="StreamErrorService")
    for name, client_streaming, server_streaming in (
        ("Unary", False, False),
        ("ServerStream", False, True),
        ("ClientStream", True, False),
        ("Chat", True, True),
    ):
        service.method.add(
            name=name,
            input_type=".google.protobuf.StringValue",
            output_type=".google.protobuf.StringValue",
            client_streaming=client_streaming,
            server_streaming=server_streaming,
        )
    pool.Add(file)
    return pool.FindServiceByName(SERVICE)


class StreamErrors:
    async def Unary(self, request: Text, context: Any) -> Text:
        raise errors.NotFound("thing", request.value)

    async def ServerStream(self, request: Text, context: Any) -> AsyncIterator[Text]:
        for i in range(2):
            yield Text(value=f"{request.value}-{i}")
        raise errors.InvalidArgument("value", "refused after two messages")

    async def ClientStream(self, requests: AsyncIterator[Text], context: Any) -> Text:
        seen = 0
        async for r in requests:
            if r.value == "bad":
                raise errors.FailedPrecondition(f"bad after {seen}", reason="TOLD_TO_FAIL")
            seen += 1
        return Text(value=str(seen))

    async def Chat(self, requests: AsyncIterator[Text], context: Any) -> AsyncIterator[Text]:
        async for r in requests:
            if r.value == "stop":
                raise errors.Aborted("stopped on request", reason="STOPPED")
            if r.value == "crash":
                raise RuntimeError("a bug, with a secret in its message")
            yield Text(value=r.value.upper())


# Any caller may call the test service (auth is off in these tests anyway).
ANY_CALLER = {
    m: Rule(Permission.CALLER, None) for m in ("Unary", "ServerStream", "ClientStream", "Chat")
}


def _table(store: Store) -> tuple[app.ServiceEntry, ...]:
    return (
        *app.services(store),
        app.ServiceEntry(_descriptor(), StreamErrors(), permissions=ANY_CALLER),
    )


@pytest.fixture(scope="module")
def streams(database_url: str) -> Iterator[ServerThread]:
    with running_server(database_url, _table) as server:
        yield server


@pytest.fixture
def channel(streams: ServerThread) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(streams.target) as ch:
        yield ch


def _method(channel: grpc.Channel, name: str, client: bool, server: bool) -> Any:
    factory = {
        (False, False): channel.unary_unary,
        (False, True): channel.unary_stream,
        (True, False): channel.stream_unary,
        (True, True): channel.stream_stream,
    }[client, server]
    return factory(
        f"/{SERVICE}/{name}",
        request_serializer=Text.SerializeToString,
        response_deserializer=Text.FromString,
    )


def _reason(exc: grpc.RpcError) -> str:
    status = rpc_status.from_call(exc)
    assert status is not None, "no google.rpc.Status in the trailers"
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info.reason
    raise AssertionError("no ErrorInfo")


def test_bidirectional_stream_ends_with_the_domain_errors_status(channel: grpc.Channel) -> None:
    chat = _method(channel, "Chat", True, True)
    received: list[str] = []
    with pytest.raises(grpc.RpcError) as info:
        for reply in chat(iter([Text(value="a"), Text(value="b"), Text(value="stop")]), timeout=10):
            received.append(reply.value)
    assert received == ["A", "B"]  # what came before the error still arrived
    assert info.value.code() == grpc.StatusCode.ABORTED
    assert info.value.details() == "stopped on request"
    assert _reason(info.value) == "STOPPED"


def test_bidirectional_stream_bug_is_internal_and_hides_its_message(
    channel: grpc.Channel,
) -> None:
    chat = _method(channel, "Chat", True, True)
    with pytest.raises(grpc.RpcError) as info:
        list(chat(iter([Text(value="x"), Text(value="crash")]), timeout=10))
    assert info.value.code() == grpc.StatusCode.INTERNAL
    assert "secret" not in (info.value.details() or "")


def test_server_stream_error_after_messages_names_the_field(channel: grpc.Channel) -> None:
    stream = _method(channel, "ServerStream", False, True)
    received: list[str] = []
    with pytest.raises(grpc.RpcError) as info:
        for reply in stream(Text(value="m"), timeout=10):
            received.append(reply.value)
    assert received == ["m-0", "m-1"]
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(info.value)
    assert status is not None
    bad = error_details_pb2.BadRequest()
    assert any(d.Unpack(bad) for d in status.details if d.Is(bad.DESCRIPTOR))
    assert [v.field for v in bad.field_violations] == ["value"]


def test_client_stream_and_unary_errors_keep_their_status(channel: grpc.Channel) -> None:
    upload = _method(channel, "ClientStream", True, False)
    assert upload(iter([Text(value="1"), Text(value="2")]), timeout=10).value == "2"
    with pytest.raises(grpc.RpcError) as info:
        upload(iter([Text(value="1"), Text(value="bad")]), timeout=10)
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert _reason(info.value) == "TOLD_TO_FAIL"
    with pytest.raises(grpc.RpcError) as info:
        _method(channel, "Unary", False, False)(Text(value="x"), timeout=10)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_a_table_row_gets_health_and_reflection(channel: grpc.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    reply = health.Check(health_pb2.HealthCheckRequest(service=SERVICE), timeout=10)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    (response,) = list(stub.ServerReflectionInfo(iter([request]), timeout=10))
    assert SERVICE in {s.name for s in response.list_services_response.service}


def test_undecodable_stream_message_is_invalid_argument(channel: grpc.Channel) -> None:
    """Garbage in the middle of a request stream ends it: what came before was
    answered, the servicer never sees the garbage."""
    chat = channel.stream_stream(f"/{SERVICE}/Chat")  # raw bytes both ways
    garbage = b"\x0a\x02\xff\xfe"  # field 1 (a string) that is not UTF-8
    received: list[bytes] = []
    with pytest.raises(grpc.RpcError) as info:
        for reply in chat(iter([Text(value="a").SerializeToString(), garbage]), timeout=10):
            received.append(reply)
    assert [Text.FromString(r).value for r in received] == ["A"]
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(info.value)
    assert status is not None
    bad = error_details_pb2.BadRequest()
    assert any(d.Unpack(bad) for d in status.details if d.Is(bad.DESCRIPTOR))
    assert [v.field for v in bad.field_violations] == ["request"]
    assert _reason(info.value) == "UNDECODABLE_REQUEST"


def test_a_bug_is_one_error_line_with_the_call_and_its_traceback(
    channel: grpc.Channel, caplog: pytest.LogCaptureFixture
) -> None:
    chat = _method(channel, "Chat", True, True)
    started = time.time()
    with caplog.at_level(logging.DEBUG, logger="modelreg_server"), pytest.raises(grpc.RpcError):
        list(chat(iter([Text(value="crash")]), timeout=10))

    lines = call_lines(caplog.records, "StreamErrorService/Chat", started)
    (line,) = lines
    assert (line.levelname, line.__dict__.get("code")) == ("ERROR", "INTERNAL")
    assert line.exc_info is not None and "secret" in str(line.exc_info[1])  # only in the log


def test_the_drain_ends_open_streams_with_unavailable_and_serves_unary_calls(
    database_url: str,
) -> None:
    """SIGTERM's drain (ServerThread.drain): a bidirectional stream waiting for its
    client's next message ends at once with UNAVAILABLE, which clients retry
    elsewhere, while the listener still answers unary calls."""
    with running_server(database_url, _table) as server, grpc.insecure_channel(server.target) as ch:
        release = threading.Event()

        def requests() -> Iterator[Text]:
            yield Text(value="hello")
            release.wait(30)  # the client keeps the stream open, sending nothing more

        chat = _method(ch, "Chat", True, True)(requests(), timeout=30)
        assert next(chat).value == "HELLO"
        try:
            server.drain()
            with pytest.raises(grpc.RpcError) as ended:
                next(chat)
        finally:
            release.set()
        assert ended.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "shutting down" in (ended.value.details() or "")
        health = health_pb2_grpc.HealthStub(ch)
        status = health.Check(health_pb2.HealthCheckRequest(), timeout=10).status
        assert status == health_pb2.HealthCheckResponse.NOT_SERVING
        with pytest.raises(grpc.RpcError) as unary:
            _method(ch, "Unary", False, False)(Text(value="x"), timeout=10)
        assert unary.value.code() == grpc.StatusCode.NOT_FOUND  # served as usual
