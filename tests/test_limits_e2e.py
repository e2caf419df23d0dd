"""Each limit of the per-call pipeline answers RESOURCE_EXHAUSTED with ErrorInfo
naming its setting, and gives back what it held when the call ends, however it
ends. The limits are configured small, so every test is cheap; a test-only
service with a bidirectional ``Hold`` method keeps a call in flight (holding its
last message's bytes) for as long as the test wants, and acknowledges each message
once the server has read it, so the tests know what the server holds."""

from __future__ import annotations

import queue
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, wrappers_pb2
from google.protobuf.descriptor import ServiceDescriptor
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from modelreg.api.v1 import registry_service_pb2 as rpc
from modelreg.api.v1 import registry_service_pb2_grpc as rpc_grpc
from modelreg.api.v1 import resources_pb2 as pb
from modelreg_server import app
from modelreg_server.config import Settings
from modelreg_server.domain.access import Permission
from modelreg_server.permissions import Rule
from modelreg_server.storage.store import Store
from modelreg_server.testing import ServerThread
from tests.support import ACTOR

Text = wrappers_pb2.StringValue
SERVICE = "modelreg_test.v1.HoldService"
TIMEOUT_S = 10.0
REGISTRY_LIMIT = 2048
QUOTA = 3000


def _descriptor() -> ServiceDescriptor:
    pool = descriptor_pool.Default()
    try:
        return pool.FindServiceByName(SERVICE)
    except KeyError:
        pass
    file = descriptor_pb2.FileDescriptorProto(
        name="modelreg_test/v1/hold_service.proto",
        package="modelreg_test.v1",
        dependency=["google/protobuf/wrappers.proto"],
        syntax="proto3",
    )
    file.service.add(name="HoldService").method.add(
        name="Hold",
        input_type=".google.protobuf.StringValue",
        output_type=".google.protobuf.StringValue",
        client_streaming=True,
        server_streaming=True,
    )
    pool.Add(file)
    return pool.FindServiceByName(SERVICE)


class Holder:
    async def Hold(self, requests: AsyncIterator[Text], context: Any) -> AsyncIterator[Text]:
        async for request in requests:
            yield Text(value=str(len(request.value)))  # read, so held


def _table(store: Store) -> tuple[app.ServiceEntry, ...]:
    # The test family's own limit is the quota: the quota is what its calls meet.
    return (
        *app.services(store),
        app.ServiceEntry(
            _descriptor(), Holder(), QUOTA, permissions={"Hold": Rule(Permission.CALLER, None)}
        ),
    )


@pytest.fixture(scope="module")
def limited(database_url: str) -> Iterator[ServerThread]:
    settings = Settings(
        listen="127.0.0.1:0",
        database_url=database_url,
        max_request_bytes=(
            ("registry", REGISTRY_LIMIT),
            ("tracking", REGISTRY_LIMIT),
            ("production", REGISTRY_LIMIT),
            ("lineage", REGISTRY_LIMIT),
            ("access", REGISTRY_LIMIT),
        ),
        max_concurrent_rpcs=2,
        request_memory_quota=QUOTA,
    )
    server = ServerThread(settings, _table).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def channel(limited: ServerThread) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(limited.target) as ch:
        yield ch


class HeldCall:
    """A Hold call in flight; ``send`` returns once the server has read the message."""

    def __init__(self, channel: grpc.Channel) -> None:
        self._queue: queue.Queue[Text | None] = queue.Queue()
        self.responses = _hold(channel)(iter(self._queue.get, None), timeout=TIMEOUT_S)

    def send(self, text: str) -> None:
        self._queue.put(Text(value=text))
        assert next(self.responses).value == str(len(text))

    def close(self) -> None:
        self._queue.put(None)
        assert list(self.responses) == []


def _hold(channel: grpc.Channel) -> Any:
    return channel.stream_stream(
        f"/{SERVICE}/Hold",
        request_serializer=Text.SerializeToString,
        response_deserializer=Text.FromString,
    )


def _until_accepted(call: Any) -> Any:
    """Retry ``call`` while it is refused (RESOURCE_EXHAUSTED): a call frees what it
    held when its task ends, maybe just after its client has the answer. Bounded:
    200 tries, 10 ms apart."""
    for _ in range(200):
        try:
            return call()
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, exc.details()
        threading.Event().wait(0.01)
    raise AssertionError("still refused after 200 tries")


def _info(exc: grpc.RpcError) -> error_details_pb2.ErrorInfo:
    status = rpc_status.from_call(exc)
    assert status is not None, "no google.rpc.Status in the trailers"
    info = error_details_pb2.ErrorInfo()
    assert any(d.Unpack(info) for d in status.details if d.Is(info.DESCRIPTOR))
    return info


def _refused(call: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, caught.value.details()
    return caught.value


def _project(stub: Any, description: str = "") -> Any:
    project_id = f"p{uuid.uuid4().hex[:12]}"
    return stub.CreateProject(
        rpc.CreateProjectRequest(
            project_id=project_id, project=pb.Project(description=description)
        ),
        metadata=ACTOR,
        timeout=TIMEOUT_S,
    )


def test_a_request_over_its_familys_limit_names_the_setting(channel: grpc.Channel) -> None:
    stub = rpc_grpc.RegistryServiceStub(channel)
    error = _refused(lambda: _project(stub, "x" * (REGISTRY_LIMIT + 100)))
    assert "MODELREG_MAX_REQUEST_BYTES_REGISTRY (2048)" in (error.details() or "")
    info = _info(error)
    assert info.reason == "REQUEST_TOO_LARGE"
    assert dict(info.metadata) == {"limit": "MODELREG_MAX_REQUEST_BYTES_REGISTRY", "value": "2048"}
    # Under the limit, the same call goes through.
    assert _project(stub, "x" * 100).description == "x" * 100


def test_calls_over_the_concurrency_limit_are_refused_until_one_ends(
    channel: grpc.Channel,
) -> None:
    stub = rpc_grpc.RegistryServiceStub(channel)
    request = rpc.GetProjectRequest(name=_project(stub).name)
    get = lambda: stub.GetProject(request, timeout=TIMEOUT_S)  # noqa: E731
    first, second = HeldCall(channel), HeldCall(channel)
    first.send("a")
    second.send("b")  # both slots taken
    error = _refused(get)
    assert "MODELREG_MAX_CONCURRENT_RPCS (2)" in (error.details() or "")
    info = _info(error)
    assert info.reason == "TOO_MANY_CONCURRENT_RPCS"
    assert info.metadata["limit"] == "MODELREG_MAX_CONCURRENT_RPCS"
    # A cancelled call gives its slot back too (its handler never returns).
    first.responses.cancel()
    second.close()
    assert _until_accepted(get).name == request.name


def test_request_bytes_over_the_memory_quota_are_refused_until_released(
    channel: grpc.Channel,
) -> None:
    held = HeldCall(channel)
    held.send("x" * (QUOTA - 500))  # held while the stream waits for its next message
    hold = _hold(channel)
    send = lambda: list(hold(iter([Text(value="y" * 1000)]), timeout=TIMEOUT_S))  # noqa: E731
    error = _refused(send)
    assert "MODELREG_REQUEST_MEMORY_QUOTA (3000" in (error.details() or "")
    info = _info(error)
    assert info.reason == "MEMORY_QUOTA_EXCEEDED"
    assert info.metadata["limit"] == "MODELREG_REQUEST_MEMORY_QUOTA"
    # The held stream's next, small message replaces its reservation.
    held.send("z")
    assert [r.value for r in _until_accepted(send)] == ["1000"]  # once the refused one ended
    held.close()


def test_a_request_refused_unread_gives_its_slot_back(channel: grpc.Channel) -> None:
    """Over twice the largest limit (here 2 x 3000 bytes), gRPC core refuses the
    request before the handler runs: the call still ends and frees its slot."""
    stub = rpc_grpc.RegistryServiceStub(channel)
    big = rpc.GetProjectRequest(name="projects/" + "x" * 10_000)
    small = rpc.GetProjectRequest(name=_project(stub).name)
    for _ in range(3):  # more than max_concurrent_rpcs calls, one after the other
        with pytest.raises(grpc.RpcError) as caught:
            stub.GetProject(big, timeout=TIMEOUT_S)
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "larger than max" in (caught.value.details() or "")  # core's words, not ours
        _until_accepted(lambda: stub.GetProject(small, timeout=TIMEOUT_S))
