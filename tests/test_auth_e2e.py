"""Authentication and authorization against a real server with auth on: what a
key's holder sees beyond the matrix (tests/test_authorization_e2e.py):
existence does not leak, the key's owner is the actor, references into other
projects are refused, streams are checked message by message, revocation and
expiry take effect, the rate limit, the audit trail, and what stays open."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

import modelreg
from modelreg.api.v1 import lineage_service_pb2 as lin
from modelreg.api.v1 import lineage_service_pb2_grpc as lin_grpc
from modelreg.api.v1 import production_service_pb2 as prod
from modelreg.api.v1 import production_service_pb2_grpc as prod_grpc
from modelreg.api.v1 import registry_service_pb2 as reg
from modelreg.api.v1 import registry_service_pb2_grpc as reg_grpc
from modelreg.api.v1 import resources_pb2 as pb
from modelreg_server import metrics
from modelreg_server.domain.access import Role
from modelreg_server.testing import ServerThread
from tests.auth_support import auth_server, bearer, make_key, run_sql

OWN, OTHER = f"aown_{uuid.uuid4().hex[:8]}", f"aother_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def secured(database_url: str, target: str) -> Iterator[ServerThread]:
    with modelreg.Client(target) as c:
        for name in (OWN, OTHER):
            c.create_project(name)
            c.create_model(name, "m")
            c.register_model_version(name, "m", artifact_uri="s3://b/1")
            c.create_dataset_version(name, "d", version="v1", uri="s3://d/v1")
    with auth_server(database_url, auth_cache_s=0.0) as server:
        yield server


@pytest.fixture(scope="module")
def channel(secured: ServerThread) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(secured.target) as ch:
        yield ch


def _code(fn: Any, *args: Any, **kwargs: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        fn(*args, timeout=10, **kwargs)
    return info.value


def test_a_key_cannot_probe_another_projects_names(
    database_url: str, channel: grpc.Channel
) -> None:
    stub = reg_grpc.RegistryServiceStub(channel)
    reader = bearer(make_key(database_url, OWN, Role.READER))
    assert stub.GetModel(reg.GetModelRequest(name=f"projects/{OWN}/models/m"), metadata=reader)
    answers = []
    nowhere = f"nowhere_{uuid.uuid4().hex[:6]}"
    for project, name in (
        (OTHER, f"projects/{OTHER}/models/m"),  # exists
        (OTHER, f"projects/{OTHER}/models/nope"),  # does not
        (nowhere, f"projects/{nowhere}/models/m"),  # no such project
    ):
        err = _code(stub.GetModel, reg.GetModelRequest(name=name), metadata=reader)
        assert err.code() is grpc.StatusCode.PERMISSION_DENIED
        details = err.details() or ""
        answers.append(details.replace(name, "NAME").replace(f" {project}", " PROJECT"))
    assert len(set(answers)) == 1, answers
    # A name that names no project is refused too, and says which field it read.
    err = _code(stub.GetModel, reg.GetModelRequest(name="models/m"), metadata=reader)
    assert err.code() is grpc.StatusCode.PERMISSION_DENIED
    assert "a project in name" in (err.details() or "")
    # The reader's own missing model is NOT_FOUND: it may know what its project holds.
    err = _code(
        stub.GetModel, reg.GetModelRequest(name=f"projects/{OWN}/models/nope"), metadata=reader
    )
    assert err.code() is grpc.StatusCode.NOT_FOUND


def test_a_reader_cannot_write_and_a_writer_cannot_move_aliases(
    database_url: str, channel: grpc.Channel
) -> None:
    stub = reg_grpc.RegistryServiceStub(channel)
    reader = bearer(make_key(database_url, OWN, Role.READER))
    writer = bearer(make_key(database_url, OWN, Role.WRITER))
    create = reg.CreateModelVersionRequest(
        parent=f"projects/{OWN}/models/m",
        model_version=pb.ModelVersion(artifact=pb.Artifact(uri="s3://b/2")),
    )
    before = run_sql(database_url, "SELECT count(*) FROM model_versions")[0][0]
    err = _code(stub.CreateModelVersion, create, metadata=reader)
    assert err.code() is grpc.StatusCode.PERMISSION_DENIED
    assert "role writer" in (err.details() or "")
    assert run_sql(database_url, "SELECT count(*) FROM model_versions")[0][0] == before
    alias = reg.SetAliasRequest(parent=f"projects/{OWN}/models/m", alias="production", version="1")
    err = _code(stub.SetAlias, alias, metadata=writer)
    assert err.code() is grpc.StatusCode.PERMISSION_DENIED
    assert not run_sql(
        database_url,
        "SELECT 1 FROM aliases a JOIN models m ON m.id = a.model_id "
        "JOIN projects p ON p.id = m.project_id WHERE p.name = $1",
        OWN,
    )


def test_the_keys_owner_is_the_actor_whatever_the_client_says(
    database_url: str, channel: grpc.Channel
) -> None:
    stub = reg_grpc.RegistryServiceStub(channel)
    owner = f"ci-bot-{uuid.uuid4().hex[:6]}"
    admin = make_key(database_url, OWN, Role.ADMIN, owner=owner)
    metadata = (*bearer(admin), ("modelreg-actor", "someone-else"))
    version = stub.CreateModelVersion(
        reg.CreateModelVersionRequest(
            parent=f"projects/{OWN}/models/m",
            model_version=pb.ModelVersion(artifact=pb.Artifact(uri="s3://b/3")),
        ),
        metadata=metadata,
    )
    assert version.created_by == owner
    stub.SetAlias(
        reg.SetAliasRequest(
            parent=f"projects/{OWN}/models/m", alias="staging", version=str(version.version)
        ),
        metadata=metadata,
    )
    history = stub.ListAliasHistory(
        reg.ListAliasHistoryRequest(name=f"projects/{OWN}/models/m/aliases/staging"),
        metadata=metadata,
    )
    assert [e.actor for e in history.events] == [owner]


def test_references_into_another_project_are_refused_and_write_nothing(
    database_url: str, channel: grpc.Channel
) -> None:
    stub = reg_grpc.RegistryServiceStub(channel)
    writer = bearer(make_key(database_url, OWN, Role.WRITER))
    before = run_sql(database_url, "SELECT count(*) FROM model_versions")[0][0]
    request = reg.CreateModelVersionRequest(
        parent=f"projects/{OWN}/models/m",
        model_version=pb.ModelVersion(
            artifact=pb.Artifact(uri="s3://b/4"),
            training_data=[pb.DataRef(dataset_version=f"projects/{OTHER}/datasets/d/versions/v1")],
        ),
    )
    err = _code(stub.CreateModelVersion, request, metadata=writer)
    assert err.code() is grpc.StatusCode.PERMISSION_DENIED
    assert OTHER in (err.details() or "")
    assert run_sql(database_url, "SELECT count(*) FROM model_versions")[0][0] == before
    # A server admin may link projects; a reader of OWN then does not see OTHER's node.
    admin = bearer(make_key(database_url, None, Role.SERVER_ADMIN))
    linked = stub.CreateModelVersion(request, metadata=admin)
    lineage = lin_grpc.LineageServiceStub(channel).GetLineage(
        lin.GetLineageRequest(resource=linked.name, direction=lin.LINEAGE_DIRECTION_UPSTREAM),
        metadata=bearer(make_key(database_url, OWN, Role.READER)),
    )
    names = {n.name for n in lineage.nodes}
    assert linked.name in names and not any(OTHER in n for n in names)
    everything = lin_grpc.LineageServiceStub(channel).GetLineage(
        lin.GetLineageRequest(resource=linked.name, direction=lin.LINEAGE_DIRECTION_UPSTREAM),
        metadata=admin,
    )
    assert any(OTHER in n.name for n in everything.nodes)


def test_a_stream_is_checked_batch_by_batch(database_url: str, channel: grpc.Channel) -> None:
    stub = prod_grpc.ProductionServiceStub(channel)
    writer = bearer(make_key(database_url, OWN, Role.WRITER))
    now = datetime.now(timezone.utc)
    batches = []
    for seq, project in enumerate((OWN, OTHER), start=1):
        request = prod.WriteInferenceRecordsRequest(
            parent=f"projects/{project}", writer_id=str(uuid.uuid4()), batch_seq=seq
        )
        record = request.records.add(record_id=str(uuid.uuid4()), model="m", version=1)
        record.event_time.FromDatetime(now)
        batches.append(request)
    responses = stub.WriteInferenceRecords(iter(batches), timeout=10, metadata=writer)
    acks = []
    with pytest.raises(grpc.RpcError) as info:
        for response in responses:
            acks.append(response)
    assert info.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert [a.accepted for a in acks] == [1]  # the own project's batch was stored


def test_revoked_and_expired_keys_stop_working(database_url: str, channel: grpc.Channel) -> None:
    stub = reg_grpc.RegistryServiceStub(channel)
    token = make_key(
        database_url, OWN, Role.READER, expire_time=datetime.now(timezone.utc) + timedelta(hours=1)
    )
    get = reg.GetProjectRequest(name=f"projects/{OWN}")
    assert stub.GetProject(get, metadata=bearer(token)).name == f"projects/{OWN}"
    key_id = token.split("_")[1]
    run_sql(database_url, "UPDATE api_keys SET revoke_time = now() WHERE key_id = $1", key_id)
    err = _code(stub.GetProject, get, metadata=bearer(token))
    assert err.code() is grpc.StatusCode.UNAUTHENTICATED and "revoked" in (err.details() or "")
    run_sql(
        database_url,
        "UPDATE api_keys SET revoke_time = NULL, expire_time = now() - interval '1 s' "
        "WHERE key_id = $1",
        key_id,
    )
    err = _code(stub.GetProject, get, metadata=bearer(token))
    assert err.code() is grpc.StatusCode.UNAUTHENTICATED and "expired" in (err.details() or "")
    err = _code(
        stub.GetProject, get, metadata=bearer(token[:-1] + ("A" if token[-1] != "A" else "B"))
    )
    assert err.code() is grpc.StatusCode.UNAUTHENTICATED  # right id, wrong secret
    err = _code(stub.GetProject, get, metadata=(("authorization", f"Basic {token}"),))
    assert err.code() is grpc.StatusCode.UNAUTHENTICATED


def test_list_projects_shows_a_project_key_its_project_only(
    database_url: str, channel: grpc.Channel
) -> None:
    stub = reg_grpc.RegistryServiceStub(channel)
    reader = bearer(make_key(database_url, OWN, Role.READER))
    listed = stub.ListProjects(reg.ListProjectsRequest(page_size=1000), metadata=reader)
    assert [p.name for p in listed.projects] == [f"projects/{OWN}"]
    admin = bearer(make_key(database_url, None, Role.SERVER_ADMIN))
    listed = stub.ListProjects(reg.ListProjectsRequest(page_size=1000), metadata=admin)
    assert {f"projects/{OWN}", f"projects/{OTHER}"} <= {p.name for p in listed.projects}


def test_denials_are_audited_without_the_secret(
    database_url: str, channel: grpc.Channel, caplog: pytest.LogCaptureFixture
) -> None:
    stub = reg_grpc.RegistryServiceStub(channel)
    token = make_key(database_url, OWN, Role.READER)
    denied = metrics.AUTH_DENIED.labels("RegistryService/DeleteModel", "PERMISSION_DENIED")
    before = denied._value.get()
    with caplog.at_level(logging.INFO, logger="modelreg_server.audit"):
        _code(
            stub.DeleteModel,
            reg.DeleteModelRequest(name=f"projects/{OWN}/models/m"),
            metadata=bearer(token),
        )
        _code(stub.GetProject, reg.GetProjectRequest(name=f"projects/{OWN}"))
    lines = [r for r in caplog.records if r.name == "modelreg_server.audit"]
    assert denied._value.get() == before + 1
    refused = [r for r in lines if getattr(r, "method", "") == "RegistryService/DeleteModel"]
    assert refused and refused[0].__dict__["key"] == token[: len("mrk_") + 12]
    assert refused[0].__dict__["resource"] == f"projects/{OWN}/models/m"
    missing = [r for r in lines if getattr(r, "reason", "") == "API_KEY_MISSING"]
    assert missing and missing[0].__dict__["resource"] == f"projects/{OWN}"
    assert not any(token in r.getMessage() or token[20:] in r.getMessage() for r in caplog.records)


def test_health_and_reflection_stay_open(channel: grpc.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    assert health.Check(health_pb2.HealthCheckRequest(), timeout=10).status == 1


def test_the_rate_limit_names_itself_and_says_when_to_retry(database_url: str) -> None:
    token = make_key(database_url, OWN, Role.READER)
    with (
        auth_server(database_url, rate_limit_rps=0.01, rate_limit_burst=3) as server,
        grpc.insecure_channel(server.target) as ch,
    ):
        stub = reg_grpc.RegistryServiceStub(ch)
        get = reg.GetProjectRequest(name=f"projects/{OWN}")
        for _ in range(3):
            stub.GetProject(get, timeout=10, metadata=bearer(token))
        err = _code(stub.GetProject, get, metadata=bearer(token))
        assert err.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        status = rpc_status.from_call(err)  # type: ignore[arg-type]
        assert status is not None
        info, retry = error_details_pb2.ErrorInfo(), error_details_pb2.RetryInfo()
        assert status.details[0].Unpack(info) and status.details[1].Unpack(retry)
        assert info.reason == "RATE_LIMITED"
        assert info.metadata["limit"] == "MODELREG_RATE_LIMIT_RPS"
        assert retry.retry_delay.ToTimedelta() > timedelta(0)
        # Another key has a bucket of its own.
        other = make_key(database_url, OWN, Role.READER)
        stub.GetProject(get, timeout=10, metadata=bearer(other))


def test_without_auth_keys_are_not_needed(channel: grpc.Channel, target: str) -> None:
    with grpc.insecure_channel(target) as open_channel:
        stub = reg_grpc.RegistryServiceStub(open_channel)
        assert stub.GetProject(reg.GetProjectRequest(name=f"projects/{OWN}"), timeout=10)
