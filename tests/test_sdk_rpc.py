"""The call helper of both clients, against a scripted stub: page sizes, following page
tokens, retries of UNAVAILABLE with the same request, status -> exception."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest

import modelreg
from modelreg.api.v1 import registry_service_pb2 as rpc
from modelreg.api.v1 import resources_pb2 as pb
from tests.async_adapter import AsyncAdapter, LoopThread


class FakeRpcError(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str = "fake") -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> tuple[tuple[str, str], ...]:
        return ()


class ScriptedStub:
    """Answers each method from its list of responses (an exception is raised); keeps a
    copy of every request as it was sent, with its metadata."""

    def __init__(self, aio: bool) -> None:
        self.aio = aio
        self.script: dict[str, list[Any]] = {}
        self.sent: list[tuple[str, Any, Any]] = []

    def __getattr__(self, method: str) -> Callable[..., Any]:
        def answer(request: Any, *, timeout: float, metadata: Any) -> Any:
            assert timeout > 0
            sent = type(request)()
            sent.CopyFrom(request)
            self.sent.append((method, sent, metadata))
            response = self.script[method].pop(0)
            if isinstance(response, BaseException):
                raise response
            return response

        async def answer_async(request: Any, *, timeout: float, metadata: Any) -> Any:
            return answer(request, timeout=timeout, metadata=metadata)

        return answer_async if self.aio else answer

    def requests(self, method: str) -> list[Any]:
        return [r for m, r, _ in self.sent if m == method]


@pytest.fixture(params=["sync", "async"])
def scripted(
    request: pytest.FixtureRequest, adapter_loop: LoopThread
) -> Iterator[tuple[modelreg.Client, ScriptedStub]]:
    """A client (sync, or async behind the adapter) whose call helper talks to a script."""
    retry = modelreg.RetryPolicy(max_attempts=3, initial_backoff_s=0.001, max_backoff_s=0.001)
    nowhere = "127.0.0.1:1"  # never dialled: the stub is replaced
    if request.param == "sync":
        client: Any = modelreg.Client(nowhere, actor="tester", retry=retry)
        real = client
    else:
        client = AsyncAdapter(adapter_loop, nowhere, actor="tester", retry=retry)
        real = client.wrapped
    stub = ScriptedStub(aio=request.param == "async")
    real._rpc.stubs = dict.fromkeys(real._rpc.stubs, stub)  # every service's
    try:
        yield client, stub
    finally:
        client.close()


LISTS: list[tuple[str, str, str, tuple[Any, ...]]] = [
    ("list_projects", "ListProjects", "projects", ()),
    ("list_models", "ListModels", "models", ("p",)),
    ("list_model_versions", "ListModelVersions", "model_versions", ("p", "m")),
]


@pytest.mark.parametrize(("method", "rpc_name", "field", "args"), LISTS, ids=lambda x: str(x))
def test_list_iterators_ask_for_500_per_page_unless_told(
    scripted: tuple[modelreg.Client, ScriptedStub],
    method: str,
    rpc_name: str,
    field: str,
    args: tuple[Any, ...],
) -> None:
    client, stub = scripted
    response = getattr(rpc, f"{rpc_name}Response")
    stub.script[rpc_name] = [response(), response(), response()]
    assert list(getattr(client, method)(*args)) == []
    assert list(getattr(client, method)(*args, page_size=7)) == []
    assert list(getattr(client, method)(*args, page_size=1000)) == []
    assert [r.page_size for r in stub.requests(rpc_name)] == [500, 7, 1000]


def alias_pb(name: str, version: int) -> pb.Alias:
    return pb.Alias(name=f"projects/p/models/m/aliases/{name}", alias=name, version=version)


def test_list_aliases_fetches_every_page(scripted: tuple[modelreg.Client, ScriptedStub]) -> None:
    client, stub = scripted
    stub.script["ListAliases"] = [
        rpc.ListAliasesResponse(aliases=[alias_pb("a", 1), alias_pb("b", 2)], next_page_token="t1"),
        rpc.ListAliasesResponse(aliases=[alias_pb("c", 3)], next_page_token="t2"),
        rpc.ListAliasesResponse(aliases=[alias_pb("d", 4)]),
    ]
    aliases = client.list_aliases("p", "m")
    assert [(a.project, a.model, a.alias, a.version) for a in aliases] == [
        ("p", "m", "a", 1),
        ("p", "m", "b", 2),
        ("p", "m", "c", 3),
        ("p", "m", "d", 4),
    ]
    sent = stub.requests("ListAliases")
    assert [(r.parent, r.page_size, r.page_token) for r in sent] == [
        ("projects/p/models/m", 500, ""),
        ("projects/p/models/m", 500, "t1"),
        ("projects/p/models/m", 500, "t2"),
    ]


def test_list_iterators_follow_page_tokens_lazily(
    scripted: tuple[modelreg.Client, ScriptedStub],
) -> None:
    client, stub = scripted
    stub.script["ListProjects"] = [
        rpc.ListProjectsResponse(
            projects=[pb.Project(name="projects/a"), pb.Project(name="projects/b")],
            next_page_token="next",
        ),
        rpc.ListProjectsResponse(projects=[pb.Project(name="projects/c")]),
    ]
    projects = iter(client.list_projects(filter='name != "x"'))
    assert stub.sent == []  # nothing is fetched before the first item is wanted
    assert next(projects).name == "a"
    assert len(stub.sent) == 1
    assert [p.name for p in projects] == ["b", "c"]
    assert [(r.filter, r.page_token) for r in stub.requests("ListProjects")] == [
        ('name != "x"', ""),
        ('name != "x"', "next"),
    ]


def test_alias_history_request_is_unchanged(
    scripted: tuple[modelreg.Client, ScriptedStub],
) -> None:
    client, stub = scripted
    stub.script["ListAliasHistory"] = [rpc.ListAliasHistoryResponse()]
    assert client.alias_history("p", "m", "production") == []
    assert stub.requests("ListAliasHistory") == [
        rpc.ListAliasHistoryRequest(name="projects/p/models/m/aliases/production")
    ]


def test_unavailable_is_retried_with_the_same_request(
    scripted: tuple[modelreg.Client, ScriptedStub],
) -> None:
    client, stub = scripted
    unavailable = FakeRpcError(grpc.StatusCode.UNAVAILABLE)
    stub.script["CreateProject"] = [unavailable, unavailable, pb.Project(name="projects/p")]
    assert client.create_project("p").name == "p"
    sent = stub.requests("CreateProject")
    assert len(sent) == 3
    assert sent[0].request_id and sent[0] == sent[1] == sent[2]
    assert {m for _, _, m in stub.sent} == {(("modelreg-actor", "tester"),)}

    stub.script["GetProject"] = [unavailable] * 3
    with pytest.raises(modelreg.UnavailableError):
        client.get_project("p")
    assert len(stub.requests("GetProject")) == 3  # max_attempts
    assert stub.sent[-1][2] is None  # reads carry no actor


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (grpc.StatusCode.NOT_FOUND, modelreg.NotFoundError),
        (grpc.StatusCode.ABORTED, modelreg.ConflictError),
        (grpc.StatusCode.INTERNAL, modelreg.InternalError),
        (grpc.StatusCode.DATA_LOSS, modelreg.ModelregError),
    ],
)
def test_other_failures_raise_at_once_as_modelreg_errors(
    scripted: tuple[modelreg.Client, ScriptedStub],
    code: grpc.StatusCode,
    error: type[modelreg.ModelregError],
) -> None:
    client, stub = scripted
    stub.script["GetModel"] = [FakeRpcError(code, "no luck")]
    with pytest.raises(error) as info:
        client.get_model("p", "m")
    assert (info.value.code, info.value.details) == (code, "no luck")
    assert len(stub.sent) == 1
