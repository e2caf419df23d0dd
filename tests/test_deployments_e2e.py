"""Deployments end to end over gRPC: create, read, list and page; the traffic split's
checks (each error names its field, and nothing is written); etags; the history and
"what was deployed at time T"; request_id retries; deletion with the model or project."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import modelreg
from modelreg import DeploymentEventKind, DeploymentState
from modelreg.api.v1 import production_service_pb2 as rpc
from modelreg.api.v1 import resources_pb2 as pb
from tests.bad_input import bad_fields, error_info
from tests.conftest import unique
from tests.hostile import outcome
from tests.support import ACTOR, register, sql


def _split(*pairs: tuple[int, int]) -> list[pb.TrafficSplit]:
    return [pb.TrafficSplit(version=v, percent=p) for v, p in pairs]


def _create(
    project: str,
    deployment_id: str = "prod",
    model: str = "m",
    *pairs: tuple[int, int],
    **fields: Any,
) -> rpc.CreateDeploymentRequest:
    return rpc.CreateDeploymentRequest(
        parent=f"projects/{project}",
        deployment_id=deployment_id,
        deployment=pb.Deployment(
            model=f"projects/{project}/models/{model}",
            traffic=_split(*(pairs or ((1, 100),))),
            **fields,
        ),
    )


def _counts(database_url: str, project: str) -> tuple[int, int, int]:
    """(deployments, their events, request ids recorded for them) of ``project``."""
    row = sql(
        database_url,
        "SELECT (SELECT count(*) FROM deployments d JOIN projects p ON p.id = d.project_id "
        "        WHERE p.name = $1),"
        " (SELECT count(*) FROM deployment_events e JOIN deployments d ON d.id = e.deployment_id"
        "  JOIN projects p ON p.id = d.project_id WHERE p.name = $1),"
        " (SELECT count(*) FROM request_log"
        "  WHERE scope LIKE 'projects/' || $1 || '/deployments/%')",
        project,
    )[0]
    return row[0], row[1], row[2]


def _invalid(call: Any, request: Any, field: str, reason: str = "INVALID_ARGUMENT") -> None:
    code, status = outcome(call, request)
    assert code == grpc.StatusCode.INVALID_ARGUMENT, (field, status.message)
    assert bad_fields(status) == [field], status.message
    assert error_info(status).reason == reason, status.message


@pytest.fixture
def prod(sync_client: modelreg.Client) -> Any:
    return sync_client.production_stub


# Create, get, list


def test_create_get_and_list(client: modelreg.Client, project: str) -> None:
    register(client, project, "m", 3)
    register(client, project, "other", 1)
    d = client.create_deployment(
        project,
        "prod",
        model="m",
        traffic={2: 90, 1: 10},
        environment="eu-west.1",
        description="the live one",
        labels={"team": "nlp"},
        reason="first release",
    )
    assert (d.project, d.deployment_id, d.model, d.environment) == (
        project,
        "prod",
        "m",
        "eu-west.1",
    )
    assert d.resource_name == f"projects/{project}/deployments/prod"
    assert d.traffic == {1: 10, 2: 90} and list(d.traffic) == [1, 2]
    assert d.state is DeploymentState.ACTIVE
    assert (d.description, d.labels) == ("the live one", {"team": "nlp"})
    assert (d.created_by, d.updated_by) == ("tester", "tester")
    assert d.create_time == d.update_time
    assert d.etag
    assert client.get_deployment(project, "prod") == d

    canary = client.create_deployment(
        project, "canary", model="other", traffic={1: 100}, environment="staging"
    )
    assert canary.state is DeploymentState.ACTIVE and canary.environment == "staging"
    paused = client.create_deployment(project, "a-paused", model="m", traffic={3: 100})
    assert [x.deployment_id for x in client.list_deployments(project)] == [
        "a-paused", "canary", "prod",
    ]  # fmt: skip
    assert [x.deployment_id for x in client.list_deployments(project, model="m")] == [
        "a-paused", "prod",
    ]  # fmt: skip
    assert client.list_deployments(project, model="nosuchmodel") == []
    assert client.list_deployments(project)[0] == paused

    with pytest.raises(modelreg.AlreadyExistsError):
        client.create_deployment(project, "prod", model="other", traffic={1: 100})
    with pytest.raises(modelreg.NotFoundError) as info:
        client.get_deployment(project, "nosuch")
    assert f"projects/{project}/deployments/nosuch" in info.value.details
    with pytest.raises(modelreg.NotFoundError) as info:
        client.create_deployment(project, "x", model="nosuchmodel", traffic={1: 100})
    assert f"projects/{project}/models/nosuchmodel" in info.value.details
    missing = unique("nosuchproject")
    with pytest.raises(modelreg.NotFoundError) as info:
        client.create_deployment(missing, "x", model="m", traffic={1: 100})
    assert f"projects/{missing}" in info.value.details
    with pytest.raises(modelreg.NotFoundError):
        client.list_deployments(missing)
    with pytest.raises(modelreg.NotFoundError):
        client.get_deployment(missing, "prod")


def test_created_in_a_state_and_archived_versions_take_traffic(
    sync_client: modelreg.Client, prod: Any, project: str
) -> None:
    register(sync_client, project, "m", 2)
    sync_client.archive_model_version(project, "m", 1)
    made = prod.CreateDeployment(
        _create(project, "later", "m", (1, 30), (2, 70), state=pb.Deployment.PAUSED),
        metadata=ACTOR,
        timeout=10,
    )
    assert made.state == pb.Deployment.PAUSED
    assert [(t.version, t.percent) for t in made.traffic] == [(1, 30), (2, 70)]
    assert made.model == f"projects/{project}/models/m"
    assert made.name == f"projects/{project}/deployments/later"
    assert made.deployment_id == "later"


def test_pages(sync_client: modelreg.Client, prod: Any, project: str) -> None:
    register(sync_client, project, "m", 1)
    ids = [f"d{i}" for i in range(5)]
    for d in reversed(ids):
        sync_client.create_deployment(project, d, model="m", traffic={1: 100})
    seen, token, pages = [], "", 0
    while True:
        page = prod.ListDeployments(
            rpc.ListDeploymentsRequest(parent=f"projects/{project}", page_size=2, page_token=token),
            timeout=10,
        )
        seen += [d.deployment_id for d in page.deployments]
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert (seen, pages) == (ids, 3)
    first = prod.ListDeployments(
        rpc.ListDeploymentsRequest(parent=f"projects/{project}", page_size=2), timeout=10
    )
    # A token continues only the listing it came from.
    _invalid(
        prod.ListDeployments,
        rpc.ListDeploymentsRequest(
            parent=f"projects/{project}", model="m", page_token=first.next_page_token
        ),
        "page_token",
    )
    _invalid(
        prod.ListDeployments,
        rpc.ListDeploymentsRequest(parent=f"projects/{project}", page_size=-1),
        "page_size",
    )
    _invalid(prod.ListDeployments, rpc.ListDeploymentsRequest(parent="projects/"), "parent")
    _invalid(
        prod.ListDeployments,
        rpc.ListDeploymentsRequest(parent=f"projects/{project}", model="Bad Model"),
        "model",
    )


# The checks of a new deployment: the field named, nothing written


def _bad_creates(project: str, other: str) -> list[tuple[rpc.CreateDeploymentRequest, str, str]]:
    ok = _create(project, "prod", "m", (1, 50), (2, 50))

    def but(**changes: Any) -> rpc.CreateDeploymentRequest:
        request = rpc.CreateDeploymentRequest()
        request.CopyFrom(ok)
        for key, value in changes.items():
            if key == "traffic":
                del request.deployment.traffic[:]
                request.deployment.traffic.extend(_split(*value))
            elif key in ("deployment_id", "reason", "request_id", "parent"):
                setattr(request, key, value)
            elif key == "labels":
                request.deployment.labels.update(value)
            else:
                setattr(request.deployment, key, value)
        return request

    return [
        (but(deployment_id=""), "deployment_id", "INVALID_ARGUMENT"),
        (but(deployment_id="Prod"), "deployment_id", "INVALID_ARGUMENT"),
        (but(deployment_id="p" * 64), "deployment_id", "INVALID_ARGUMENT"),
        (but(parent="projects"), "parent", "INVALID_ARGUMENT"),
        (but(model=""), "deployment.model", "INVALID_ARGUMENT"),
        (but(model="models/m"), "deployment.model", "INVALID_ARGUMENT"),
        (but(model=f"projects/{other}/models/m"), "deployment.model", "INVALID_ARGUMENT"),
        (but(traffic=()), "deployment.traffic", "INVALID_ARGUMENT"),
        (but(traffic=((1, 50), (2, 0), (3, 50))), "deployment.traffic[1].percent",
         "INVALID_ARGUMENT"),
        (but(traffic=((1, 101),)), "deployment.traffic[0].percent", "INVALID_ARGUMENT"),
        (but(traffic=((1, -5), (2, 105))), "deployment.traffic[0].percent", "INVALID_ARGUMENT"),
        (but(traffic=((1, 50), (1, 50))), "deployment.traffic[1].version", "INVALID_ARGUMENT"),
        (but(traffic=((0, 100),)), "deployment.traffic[0].version", "INVALID_ARGUMENT"),
        (but(traffic=((1, 50), (-2, 50))), "deployment.traffic[1].version", "INVALID_ARGUMENT"),
        (but(traffic=((1, 50), (2, 40))), "deployment.traffic", "INVALID_ARGUMENT"),
        (but(traffic=((1, 60), (2, 50))), "deployment.traffic", "INVALID_ARGUMENT"),
        (but(traffic=((1, 50), (9, 50))), "deployment.traffic[1].version", "VERSION_NOT_FOUND"),
        (but(traffic=((3, 100),)), "deployment.traffic[0].version", "VERSION_DELETED"),
        (but(environment="prod env"), "deployment.environment", "INVALID_ARGUMENT"),
        (but(environment="e" * 64), "deployment.environment", "INVALID_ARGUMENT"),
        (but(environment="caf\u00e9"), "deployment.environment", "INVALID_ARGUMENT"),
        (but(state=9), "deployment.state", "INVALID_ARGUMENT"),
        (but(description="x" * 10_001), "deployment.description", "INVALID_ARGUMENT"),
        (but(labels={"Bad": "x"}), "deployment.labels['Bad']", "INVALID_ARGUMENT"),
        (but(reason="r" * 1_001), "reason", "INVALID_ARGUMENT"),
        (but(request_id="not an id"), "request_id", "INVALID_ARGUMENT"),
    ]  # fmt: skip


def test_bad_new_deployments_name_the_field_and_write_nothing(
    sync_client: modelreg.Client, prod: Any, project: str, database_url: str
) -> None:
    register(sync_client, project, "m", 3)
    sync_client.delete_model_version(project, "m", 3)
    other = unique("other")
    sync_client.create_project(other)
    register(sync_client, other, "m", 2)
    for request, field, reason in _bad_creates(project, other):
        _invalid(prod.CreateDeployment, request, field, reason)
    assert _counts(database_url, project) == (0, 0, 0)
    # The same request, made right, goes through.
    made = prod.CreateDeployment(
        _create(project, "prod", "m", (1, 50), (2, 50)), metadata=ACTOR, timeout=10
    )
    assert [(t.version, t.percent) for t in made.traffic] == [(1, 50), (2, 50)]
    assert _counts(database_url, project) == (1, 1, 0)


def test_a_version_of_another_model_is_no_version_of_this_one(
    sync_client: modelreg.Client, prod: Any, project: str, database_url: str
) -> None:
    register(sync_client, project, "m", 1)
    register(sync_client, project, "n", 3)
    _invalid(
        prod.CreateDeployment,
        _create(project, "prod", "m", (1, 50), (3, 50)),
        "deployment.traffic[1].version",
        "VERSION_NOT_FOUND",
    )
    assert _counts(database_url, project) == (0, 0, 0)


# SetTraffic and UpdateDeployment


def test_set_traffic_checks_the_split_and_writes_nothing_on_error(
    sync_client: modelreg.Client, prod: Any, project: str, database_url: str
) -> None:
    register(sync_client, project, "m", 3)
    sync_client.delete_model_version(project, "m", 3)
    d = sync_client.create_deployment(project, "prod", model="m", traffic={1: 100})
    before = _counts(database_url, project)
    assert before[:2] == (1, 1)
    name = f"projects/{project}/deployments/prod"
    for pairs, field, reason in [
        ((), "traffic", "INVALID_ARGUMENT"),
        (((1, 50), (2, 0), (4, 50)), "traffic[1].percent", "INVALID_ARGUMENT"),
        (((1, 50), (2, 49)), "traffic", "INVALID_ARGUMENT"),
        (((2, 50), (2, 50)), "traffic[1].version", "INVALID_ARGUMENT"),
        (((1, 50), (7, 50)), "traffic[1].version", "VERSION_NOT_FOUND"),
        (((3, 10), (1, 90)), "traffic[0].version", "VERSION_DELETED"),
    ]:
        request = rpc.SetTrafficRequest(name=name, traffic=_split(*pairs))
        _invalid(prod.SetTraffic, request, field, reason)
    for bad, field in [("projects/x/models/m", "name"), (f"{name}/x", "name"), ("", "name")]:
        _invalid(prod.SetTraffic, rpc.SetTrafficRequest(name=bad, traffic=_split((1, 100))), field)
    request = rpc.SetTrafficRequest(name=name, traffic=_split((1, 100)), reason="r" * 1_001)
    _invalid(prod.SetTraffic, request, "reason")
    assert _counts(database_url, project) == before
    assert sync_client.get_deployment(project, "prod") == d
    with pytest.raises(modelreg.NotFoundError):
        sync_client.set_traffic(project, "nosuch", {1: 100})


def test_etags(client: modelreg.Client, project: str) -> None:
    register(client, project, "m", 2)
    first = client.create_deployment(project, "prod", model="m", traffic={1: 100})
    moved = client.set_traffic(project, "prod", {1: 50, 2: 50}, etag=first.etag)
    assert moved.etag != first.etag and moved.traffic == {1: 50, 2: 50}
    with pytest.raises(modelreg.ConflictError) as info:
        client.set_traffic(project, "prod", {2: 100}, etag=first.etag)
    assert info.value.reason == "STALE_ETAG"
    with pytest.raises(modelreg.ConflictError):
        client.update_deployment(project, "prod", state="PAUSED", etag=first.etag)
    assert client.get_deployment(project, "prod") == moved
    paused = client.update_deployment(project, "prod", state="paused", etag=moved.etag)
    assert paused.state is DeploymentState.PAUSED and paused.etag != moved.etag
    # The same split again changes nothing: no new etag, no event.
    assert client.set_traffic(project, "prod", {2: 50, 1: 50}) == paused
    assert len(client.deployment_history(project, "prod")) == 3
    # Description and labels change the etag too (not the history).
    labelled = client.update_deployment(project, "prod", labels={"a": "b"}, etag=paused.etag)
    assert labelled.etag != paused.etag and labelled.labels == {"a": "b"}
    with pytest.raises(modelreg.ConflictError):
        client.set_traffic(project, "prod", {2: 100}, etag=paused.etag)


def test_concurrent_changes_with_one_etag_let_one_through(
    sync_client: modelreg.Client, project: str
) -> None:
    register(sync_client, project, "m", 4)
    d = sync_client.create_deployment(project, "prod", model="m", traffic={1: 100})

    def move(version: int) -> str:
        try:
            sync_client.set_traffic(project, "prod", {version: 100}, etag=d.etag)
        except modelreg.ConflictError:
            return "conflict"
        return "moved"

    with ThreadPoolExecutor(3) as pool:
        results = sorted(pool.map(move, [2, 3, 4]))
    assert results == ["conflict", "conflict", "moved"]
    assert len(sync_client.deployment_history(project, "prod")) == 2


def test_update_deployment_mask_and_fields(
    sync_client: modelreg.Client, prod: Any, project: str, database_url: str
) -> None:
    register(sync_client, project, "m", 1)
    sync_client.create_deployment(project, "prod", model="m", traffic={1: 100})
    before = _counts(database_url, project)
    name = f"projects/{project}/deployments/prod"

    def update(paths: list[str], **fields: Any) -> rpc.UpdateDeploymentRequest:
        return rpc.UpdateDeploymentRequest(
            deployment=pb.Deployment(name=name, **fields),
            update_mask=field_mask_pb2.FieldMask(paths=paths),
        )

    _invalid(prod.UpdateDeployment, update([]), "update_mask")
    _invalid(prod.UpdateDeployment, update(["traffic"]), "update_mask")
    _invalid(prod.UpdateDeployment, update(["model"]), "update_mask")
    _invalid(prod.UpdateDeployment, update(["state"]), "deployment.state")
    _invalid(prod.UpdateDeployment, update(["state"], state=7), "deployment.state")
    _invalid(prod.UpdateDeployment, update(["environment"], environment="a b"),
             "deployment.environment")  # fmt: skip
    _invalid(prod.UpdateDeployment, update(["labels"], labels={"9": "x"}), "deployment.labels['9']")
    request = update(["state"], state=pb.Deployment.RETIRED)
    request.deployment.name = "projects/p/deployments"
    _invalid(prod.UpdateDeployment, request, "deployment.name")
    assert _counts(database_url, project) == before
    # Fields outside the mask are left alone.
    done = prod.UpdateDeployment(
        update(["environment"], environment="prod", description="ignored", state=3),
        metadata=ACTOR,
        timeout=10,
    )
    assert (done.environment, done.description, done.state) == ("prod", "", pb.Deployment.ACTIVE)
    with pytest.raises(ValueError, match="nothing to update"):
        sync_client.update_deployment(project, "prod")


# History and "what was deployed at time T"


def test_history(client: modelreg.Client, project: str) -> None:
    register(client, project, "m", 3)
    client.create_deployment(project, "prod", model="m", traffic={1: 100}, reason="launch")
    client.set_traffic(project, "prod", {1: 90, 2: 10}, reason="canary")
    client.set_traffic(project, "prod", {2: 100}, reason="promote")
    client.update_deployment(project, "prod", description="no event", labels={"k": "v"})
    client.update_deployment(project, "prod", state=DeploymentState.PAUSED, reason="incident")
    client.update_deployment(project, "prod", environment="eu", reason="moved")
    both = client.update_deployment(project, "prod", state="ACTIVE", environment="us", reason="x")
    # Not a change: no event.
    client.update_deployment(project, "prod", state="ACTIVE", environment="us")

    history = client.deployment_history(project, "prod")
    K, S = DeploymentEventKind, DeploymentState
    assert [(e.kind, e.traffic, e.state, e.environment, e.reason) for e in history] == [
        (K.UPDATE, {2: 100}, S.ACTIVE, "us", "x"),
        # One call changed both: two events, each with the deployment after the call.
        (K.STATE, {2: 100}, S.ACTIVE, "us", "x"),
        (K.UPDATE, {2: 100}, S.PAUSED, "eu", "moved"),
        (K.STATE, {2: 100}, S.PAUSED, "", "incident"),
        (K.TRAFFIC, {2: 100}, S.ACTIVE, "", "promote"),
        (K.TRAFFIC, {1: 90, 2: 10}, S.ACTIVE, "", "canary"),
        (K.CREATE, {1: 100}, S.ACTIVE, "", "launch"),
    ]
    assert {e.actor for e in history} == {"tester"}
    sequences = [e.sequence for e in history]
    assert sequences == sorted(sequences, reverse=True) and len(set(sequences)) == len(sequences)
    times = [e.event_time for e in history]
    assert times == sorted(times, reverse=True)
    assert history[0].event_time == history[1].event_time == both.update_time
    with pytest.raises(modelreg.NotFoundError):
        client.deployment_history(project, "nosuch")


def test_history_pages(sync_client: modelreg.Client, prod: Any, project: str) -> None:
    register(sync_client, project, "m", 2)
    sync_client.create_deployment(project, "prod", model="m", traffic={1: 100})
    for i in range(4):
        sync_client.set_traffic(project, "prod", {1: 50 + i, 2: 50 - i})
    name = f"projects/{project}/deployments/prod"
    seen, token = [], ""
    while True:
        page = prod.ListDeploymentHistory(
            rpc.ListDeploymentHistoryRequest(name=name, page_size=2, page_token=token), timeout=10
        )
        assert len(page.events) <= 2
        seen += [e.sequence for e in page.events]
        token = page.next_page_token
        if not token:
            break
    assert len(seen) == 5 and seen == sorted(seen, reverse=True)
    _invalid(
        prod.ListDeploymentHistory,
        rpc.ListDeploymentHistoryRequest(name=name, page_size=-3),
        "page_size",
    )


def test_what_was_deployed_at_a_time(client: modelreg.Client, project: str) -> None:
    register(client, project, "m", 3)
    created = client.create_deployment(project, "prod", model="m", traffic={1: 100})
    canary = client.set_traffic(project, "prod", {1: 50, 2: 50})
    promoted = client.set_traffic(project, "prod", {2: 100})
    client.update_deployment(project, "prod", description="not history")
    paused = client.update_deployment(project, "prod", state="PAUSED", environment="eu")
    third = client.set_traffic(project, "prod", {2: 20, 3: 80})

    def at(t: datetime) -> tuple[dict[int, int], DeploymentState, str]:
        d = client.get_deployment(project, "prod", at=t)
        assert d.etag == ""  # a past state is no base for a change
        assert (d.create_time, d.created_by, d.model) == (
            created.create_time, "tester", "m",
        )  # fmt: skip
        return dict(d.traffic), d.state, d.environment

    active, p = DeploymentState.ACTIVE, DeploymentState.PAUSED
    assert at(created.create_time) == ({1: 100}, active, "")
    assert at(canary.update_time) == ({1: 50, 2: 50}, active, "")
    between = canary.update_time + (promoted.update_time - canary.update_time) / 2
    assert at(between) == ({1: 50, 2: 50}, active, "")
    assert at(promoted.update_time - timedelta(microseconds=1)) == ({1: 50, 2: 50}, active, "")
    assert at(promoted.update_time) == ({2: 100}, active, "")
    assert at(paused.update_time) == ({2: 100}, p, "eu")
    assert at(third.update_time) == ({2: 20, 3: 80}, p, "eu")
    assert at(third.update_time + timedelta(days=365)) == ({2: 20, 3: 80}, p, "eu")
    then = client.get_deployment(project, "prod", at=canary.update_time)
    assert (then.update_time, then.updated_by) == (canary.update_time, "tester")
    assert then.description == "not history"  # description and labels: as now
    # Before it was created it did not exist.
    with pytest.raises(modelreg.NotFoundError) as info:
        client.get_deployment(project, "prod", at=created.create_time - timedelta(microseconds=1))
    assert f"projects/{project}/deployments/prod" in info.value.details
    with pytest.raises(ValueError, match="naive"):
        client.get_deployment(project, "prod", at=datetime(2026, 1, 1))


def test_read_time_out_of_range_is_bad_input(
    prod: Any, sync_client: modelreg.Client, project: str
) -> None:
    register(sync_client, project, "m", 1)
    sync_client.create_deployment(project, "prod", model="m", traffic={1: 100})
    request = rpc.GetDeploymentRequest(name=f"projects/{project}/deployments/prod")
    request.read_time.seconds = 253_402_300_800  # year 10000
    _invalid(prod.GetDeployment, request, "read_time")


# Idempotent retries


def test_request_ids(
    sync_client: modelreg.Client, prod: Any, project: str, database_url: str
) -> None:
    register(sync_client, project, "m", 3)
    first = sync_client.create_deployment(
        project, "prod", model="m", traffic={1: 100}, request_id="create-1"
    )
    again = sync_client.create_deployment(
        project, "prod", model="m", traffic={1: 100}, request_id="create-1"
    )
    assert again == first
    assert _counts(database_url, project) == (1, 1, 1)
    with pytest.raises(modelreg.InvalidArgumentError) as info:
        sync_client.create_deployment(
            project, "prod", model="m", traffic={2: 100}, request_id="create-1"
        )
    assert (info.value.field, info.value.reason) == ("request_id", "REQUEST_ID_REUSED")

    moved = sync_client.set_traffic(project, "prod", {1: 50, 2: 50}, request_id="move-1")
    later = sync_client.set_traffic(project, "prod", {3: 100})
    # A retry after a later change gets the first call's response, and changes nothing.
    assert sync_client.set_traffic(project, "prod", {1: 50, 2: 50}, request_id="move-1") == moved
    assert sync_client.get_deployment(project, "prod") == later
    with pytest.raises(modelreg.InvalidArgumentError):
        sync_client.set_traffic(project, "prod", {1: 60, 2: 40}, request_id="move-1")

    paused = sync_client.update_deployment(project, "prod", state="PAUSED", request_id="pause")
    assert (
        sync_client.update_deployment(project, "prod", state="PAUSED", request_id="pause") == paused
    )
    assert [e.kind for e in sync_client.deployment_history(project, "prod")] == [
        DeploymentEventKind.STATE, DeploymentEventKind.TRAFFIC, DeploymentEventKind.TRAFFIC,
        DeploymentEventKind.CREATE,
    ]  # fmt: skip
    assert _counts(database_url, project) == (1, 4, 4)  # the SDK sent an id with `later`
    # A failed call keeps nothing of its request id: the same id works once it is right.
    _invalid(
        prod.SetTraffic,
        rpc.SetTrafficRequest(
            name=f"projects/{project}/deployments/prod",
            traffic=_split((1, 60), (9, 40)),
            request_id="fix-1",
        ),
        "traffic[1].version",
        "VERSION_NOT_FOUND",
    )
    assert _counts(database_url, project) == (1, 4, 4)
    fixed = prod.SetTraffic(
        rpc.SetTrafficRequest(
            name=f"projects/{project}/deployments/prod",
            traffic=_split((1, 60), (2, 40)),
            request_id="fix-1",
        ),
        metadata=ACTOR,
        timeout=10,
    )
    assert [(t.version, t.percent) for t in fixed.traffic] == [(1, 60), (2, 40)]


def test_a_version_with_a_share_of_live_traffic_cannot_be_deleted(
    sync_client: modelreg.Client, project: str
) -> None:
    register(sync_client, project, "m", 3)
    sync_client.create_deployment(project, "prod", model="m", traffic={1: 90, 2: 10})
    with pytest.raises(modelreg.FailedPreconditionError) as info:
        sync_client.delete_model_version(project, "m", 2)
    assert info.value.reason == "VERSION_DEPLOYED"
    assert "prod" in info.value.details
    assert sync_client.get_model_version(project, "m", 2).state is modelreg.VersionState.READY
    # Version 3 has no share (a percent equal to its number is not a share).
    sync_client.set_traffic(project, "prod", {1: 97, 2: 3})
    assert sync_client.delete_model_version(project, "m", 3).state is modelreg.VersionState.DELETED
    # Once its share is gone, or the deployment is retired, it can go.
    sync_client.set_traffic(project, "prod", {1: 100})
    assert sync_client.delete_model_version(project, "m", 2).state is modelreg.VersionState.DELETED
    sync_client.update_deployment(project, "prod", state=DeploymentState.RETIRED)
    assert sync_client.delete_model_version(project, "m", 1).state is modelreg.VersionState.DELETED


# Deletion with the model or the project


def test_deleting_the_model_or_project_deletes_its_deployments(
    sync_client: modelreg.Client, project: str, database_url: str
) -> None:
    register(sync_client, project, "m", 2)
    register(sync_client, project, "n", 1)
    sync_client.create_deployment(project, "prod", model="m", traffic={1: 50, 2: 50})
    sync_client.set_traffic(project, "prod", {2: 100})
    sync_client.create_deployment(project, "other", model="n", traffic={1: 100})
    assert _counts(database_url, project)[:2] == (2, 3)

    sync_client.delete_model(project, "m", force=True)
    with pytest.raises(modelreg.NotFoundError):
        sync_client.get_deployment(project, "prod")
    assert [d.deployment_id for d in sync_client.list_deployments(project)] == ["other"]
    assert _counts(database_url, project)[:2] == (1, 1)
    # The name is free again, for a new model of the same name.
    register(sync_client, project, "m", 1)
    again = sync_client.create_deployment(project, "prod", model="m", traffic={1: 100})
    assert len(sync_client.deployment_history(project, "prod")) == 1
    assert again.traffic == {1: 100}

    sync_client.delete_project(project, force=True)
    assert _counts(database_url, project)[:2] == (0, 0)
    assert (
        sql(
            database_url,
            "SELECT count(*) FROM deployment_events e "
            "WHERE NOT EXISTS (SELECT 1 FROM deployments d WHERE d.id = e.deployment_id)",
        )[0][0]
        == 0
    )


# Any request: never INTERNAL, and a refused one writes nothing

_text = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", "prod", "p" * 64, "a\x00b", "\u00e9t\u00e9", "-a", "e.u_1-x"]),
)
_splits = st.lists(
    st.tuples(
        st.one_of(st.integers(-3, 5), st.sampled_from([2**63 - 1, -(2**63)])),
        st.one_of(st.integers(-5, 105), st.sampled_from([2**31 - 1, -(2**31)])),
    ),
    max_size=5,
)


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    deployment_id=_text,
    model=st.sampled_from(["m", "n", "nosuch", "M", ""]),
    pairs=_splits,
    environment=_text,
    state=st.integers(-1, 4),
    labels=st.dictionaries(_text, _text, max_size=2),
    seconds=st.one_of(st.integers(-(2**40), 2**40), st.sampled_from([2**63 - 1, -(2**63)])),
)
def test_any_request_is_answered_without_internal_errors(
    sync_client: modelreg.Client,
    prod: Any,
    database_url: str,
    hyp_project: str,
    deployment_id: str,
    model: str,
    pairs: list[tuple[int, int]],
    environment: str,
    state: int,
    labels: dict[str, str],
    seconds: int,
) -> None:
    project = hyp_project
    before = _counts(database_url, project)
    request = rpc.CreateDeploymentRequest(
        parent=f"projects/{project}",
        deployment_id=deployment_id,
        deployment=pb.Deployment(
            model=f"projects/{project}/models/{model}" if model else "",
            traffic=_split(*pairs),
            environment=environment,
            state=state,  # type: ignore[arg-type]
            labels=labels,
        ),
    )
    code, status = outcome(prod.CreateDeployment, request)
    assert code not in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN), status.message
    if code != grpc.StatusCode.OK:
        assert _counts(database_url, project) == before, status.message
    name = f"projects/{project}/deployments/base"
    code, status = outcome(
        prod.SetTraffic, rpc.SetTrafficRequest(name=name, traffic=_split(*pairs))
    )
    assert code not in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN), status.message
    get = rpc.GetDeploymentRequest(name=name)
    get.read_time.seconds = seconds
    code, status = outcome(prod.GetDeployment, get)
    assert code in (grpc.StatusCode.OK, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT)


@pytest.fixture(scope="module")
def hyp_project(target: str) -> Iterator[str]:
    """One project for every example: models m (versions 1-3, 3 deleted) and n, and a
    deployment ``base``."""
    with modelreg.Client(target, actor="tester") as client:
        project = unique("hyp")
        client.create_project(project)
        register(client, project, "m", 3)
        register(client, project, "n", 1)
        client.delete_model_version(project, "m", 3)
        client.create_deployment(project, "base", model="m", traffic={1: 100})
        yield project
