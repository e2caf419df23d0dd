"""The SDK's retry budget: UNAVAILABLE and DEADLINE_EXCEEDED are retried, each
attempt with a fresh deadline, for as long as the budget lasts (by default long
enough for a restart), with the same request_id; what finally fails names that
request_id so the caller can retry by hand. Run against both clients."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, cast

import pytest

import modelreg
from modelreg_server.config import Settings
from modelreg_server.testing import ServerThread
from tests.async_adapter import AsyncAdapter, LoopThread
from tests.conftest import unique
from tests.faults.proxy import FaultProxy
from tests.test_retry_e2e import free_port

MakeClient = Callable[..., modelreg.Client]


@pytest.fixture(params=["sync", "async"])
def make_client(request: pytest.FixtureRequest) -> Iterator[MakeClient]:
    """``make_client(target, **options)``: a Client, or an AsyncClient behind the adapter."""
    made: list[Any] = []

    def make(target: str, **options: Any) -> modelreg.Client:
        if request.param == "sync":
            client: Any = modelreg.Client(target, actor="tester", **options)
        else:
            loop = request.getfixturevalue("adapter_loop")
            client = AsyncAdapter(cast(LoopThread, loop), target, actor="tester", **options)
        made.append(client)
        return cast(modelreg.Client, client)

    yield make
    for client in made:
        client.close()


@pytest.fixture
def proxy(target: str) -> Iterator[FaultProxy]:
    p = FaultProxy(target)
    yield p
    p.close()


@pytest.mark.slow
def test_default_policy_outlasts_a_server_that_is_down_for_two_seconds(
    database_url: str, sync_client: modelreg.Client, make_client: MakeClient
) -> None:
    """Longer than the old policy's ~0.7 s of retries: the default budget covers a restart."""
    project = unique()
    sync_client.create_project(project)
    port = free_port()
    late = ServerThread(Settings(listen=f"127.0.0.1:{port}", database_url=database_url))
    timer = threading.Timer(2.0, late.start)
    timer.start()
    try:
        patient = make_client(f"127.0.0.1:{port}", timeout=5)
        v = patient.register_model_version(project, "m", artifact_uri="s3://b/m.pt")
    finally:
        timer.join()
        late.stop()
    assert v.version == 1
    assert [x.version for x in sync_client.list_model_versions(project, "m")] == [1]


@pytest.mark.slow
def test_deadline_exceeded_is_retried_with_a_fresh_deadline_and_the_same_request_id(
    proxy: FaultProxy, sync_client: modelreg.Client, make_client: MakeClient
) -> None:
    """The first attempt is held up longer than its deadline; the second gets a
    deadline of its own and succeeds, and the mutation lands once."""
    project = unique()
    sync_client.create_project(project)
    client = make_client(proxy.target, timeout=1.2)
    client.get_project(project)  # the connection is up before the delay
    request_id = uuid.uuid4().hex
    proxy.delay_s = 1.8  # the next chunk (the first attempt) waits this long
    lifted = threading.Timer(0.3, lambda: setattr(proxy, "delay_s", 0.0))
    lifted.start()
    try:
        v = client.register_model_version(
            project, "m", artifact_uri="s3://b/m.pt", request_id=request_id
        )
    finally:
        lifted.join()
    assert v.version == 1
    # However many attempts reached the server, they carried one request_id: one version.
    assert [x.version for x in sync_client.list_model_versions(project, "m")] == [1]
    again = client.register_model_version(
        project, "m", artifact_uri="s3://b/m.pt", request_id=request_id
    )
    assert again.version == 1


@pytest.mark.slow
def test_the_budget_bounds_the_whole_call_including_each_attempts_deadline(
    proxy: FaultProxy, make_client: MakeClient
) -> None:
    """Against a connection that never answers, a 10 s timeout is cut to the 1.5 s
    budget, and the error names the mutation's request_id."""
    retry = modelreg.RetryPolicy(total_timeout_s=1.5)
    client = make_client(proxy.target, timeout=10, retry=retry)
    list(client.list_projects())  # the connection is up before the black hole
    proxy.black_hole()
    outcome: list[BaseException] = []

    def call() -> None:
        try:
            client.create_project(unique())
        except BaseException as exc:
            outcome.append(exc)

    caller = threading.Thread(target=call, daemon=True)
    caller.start()
    caller.join(timeout=8)  # well under the 10 s timeout the budget cuts short
    assert not caller.is_alive(), "the call outlived its budget"
    assert len(outcome) == 1 and isinstance(outcome[0], modelreg.DeadlineExceededError)
    assert isinstance(outcome[0].request_id, str) and len(outcome[0].request_id) == 32


def test_errors_of_mutations_carry_their_request_id_and_reads_none(
    make_client: MakeClient, target: str
) -> None:
    client = make_client(target)
    project = unique()
    client.create_project(project)
    with pytest.raises(modelreg.AlreadyExistsError) as exists:
        client.create_project(project)
    assert isinstance(exists.value.request_id, str) and exists.value.request_id
    with pytest.raises(modelreg.NotFoundError) as missing:
        client.get_project(unique())
    assert missing.value.request_id is None
    with pytest.raises(modelreg.NotFoundError) as no_project:
        client.register_model_version(unique(), "m", artifact_uri="a", request_id="given-id")
    assert no_project.value.request_id == "given-id"


def test_an_unavailable_mutation_can_be_retried_by_hand_with_its_request_id(
    make_client: MakeClient, target: str
) -> None:
    """After the budget is spent the caller holds the request_id: sending it again
    applies the mutation once, however many times it is sent."""
    project = unique()
    live = make_client(target)
    live.create_project(project)
    dead = make_client(f"127.0.0.1:{free_port()}", retry=modelreg.RetryPolicy(total_timeout_s=0.3))
    with pytest.raises(modelreg.UnavailableError) as info:
        dead.register_model_version(project, "m", artifact_uri="s3://b/m.pt")
    request_id = info.value.request_id
    assert request_id is not None
    first = live.register_model_version(
        project, "m", artifact_uri="s3://b/m.pt", request_id=request_id
    )
    second = live.register_model_version(
        project, "m", artifact_uri="s3://b/m.pt", request_id=request_id
    )
    assert first.version == second.version == 1
    assert [x.version for x in live.list_model_versions(project, "m")] == [1]
    # Any mutation: a project created by hand with the id of the failed call, twice.
    with pytest.raises(modelreg.UnavailableError) as info:
        dead.create_project(f"{project}_x", description="d")
    assert info.value.request_id is not None
    made = live.create_project(f"{project}_x", description="d", request_id=info.value.request_id)
    again = live.create_project(f"{project}_x", description="d", request_id=info.value.request_id)
    assert made.create_time == again.create_time


def test_max_attempts_none_retries_until_the_budget_is_spent() -> None:
    policy = modelreg.RetryPolicy()
    assert policy.max_attempts is None and policy.total_timeout_s >= 30
    assert policy.may_retry(10_000)
    assert not modelreg.RetryPolicy(max_attempts=3).may_retry(3)
    start = time.monotonic()
    with (
        modelreg.Client(
            f"127.0.0.1:{free_port()}", retry=modelreg.RetryPolicy(total_timeout_s=0.5)
        ) as nobody,
        pytest.raises(modelreg.UnavailableError),
    ):
        nobody.get_project("x")
    assert time.monotonic() - start < 10  # bounded: the budget ended it, not a hang
