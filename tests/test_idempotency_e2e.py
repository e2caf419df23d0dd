"""A replayed request_id returns the response the first call returned, stored with
the id, even after the resource changed; the same id with another request is
refused; ids are per method and per resource addressed. Over real gRPC with
explicit request ids (the SDK makes its own per call, so these use the raw stub)."""

from __future__ import annotations

import uuid
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2

import modelreg
from modelreg.api.v1 import registry_service_pb2 as rpc
from modelreg.api.v1 import resources_pb2 as pb
from tests.conftest import unique
from tests.support import ACTOR


def rid() -> str:
    return uuid.uuid4().hex


def call(stub: Any, method: str, request: Any) -> Any:
    return getattr(stub, method)(request, timeout=10, metadata=ACTOR)


def register(stub: Any, project: str, model: str, request_id: str, uri: str = "s3://b/m.pt") -> Any:
    return call(
        stub,
        "CreateModelVersion",
        rpc.CreateModelVersionRequest(
            parent=f"projects/{project}/models/{model}",
            model_version=pb.ModelVersion(
                artifact=pb.Artifact(uri=uri),
                params={"lr": pb.ParamValue(float_value=0.1)},
                labels={"stage": "candidate"},
            ),
            request_id=request_id,
        ),
    )


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


@pytest.fixture
def project(stub: Any) -> str:
    name = unique("idem")
    call(stub, "CreateProject", rpc.CreateProjectRequest(project_id=name, request_id=rid()))
    return name


def test_create_project_replay_is_the_first_response(stub: Any) -> None:
    name, key = unique("idem"), rid()
    request = rpc.CreateProjectRequest(
        project_id=name, project=pb.Project(description="first"), request_id=key
    )
    first = call(stub, "CreateProject", request)
    call(
        stub,
        "UpdateProject",
        rpc.UpdateProjectRequest(
            project=pb.Project(name=f"projects/{name}", description="changed"),
            update_mask=mask("description"),
        ),
    )
    replay = call(stub, "CreateProject", request)
    assert replay == first
    assert replay.description == "first"
    now = call(stub, "GetProject", rpc.GetProjectRequest(name=f"projects/{name}"))
    assert (now.description, now.etag) == ("changed", 'W/"2"')


def test_update_replay_is_the_first_response_not_the_current_state(stub: Any, project: str) -> None:
    name = f"projects/{project}"
    first_request = rpc.UpdateProjectRequest(
        project=pb.Project(name=name, labels={"team": "a"}),
        update_mask=mask("labels"),
        request_id=rid(),
    )
    first = call(stub, "UpdateProject", first_request)
    call(
        stub,
        "UpdateProject",
        rpc.UpdateProjectRequest(
            project=pb.Project(name=name, labels={"team": "b"}), update_mask=mask("labels")
        ),
    )
    replay = call(stub, "UpdateProject", first_request)
    assert replay == first
    assert dict(replay.labels) == {"team": "a"}


def test_registration_replay_is_the_first_response(stub: Any, project: str) -> None:
    key = rid()
    first = register(stub, project, "m", key)
    call(
        stub,
        "UpdateModelVersion",
        rpc.UpdateModelVersionRequest(
            model_version=pb.ModelVersion(name=first.name, labels={"stage": "production"}),
            update_mask=mask("labels"),
        ),
    )
    call(stub, "SetAlias", rpc.SetAliasRequest(parent=first.name.rsplit("/versions/")[0],
                                               alias="production", version="1"))  # fmt: skip
    replay = register(stub, project, "m", key)
    assert replay == first
    assert (dict(replay.labels), list(replay.aliases), replay.etag) == (
        {"stage": "candidate"},
        [],
        'W/"1"',
    )
    now = call(stub, "GetModelVersion", rpc.GetModelVersionRequest(name=first.name))
    assert (dict(now.labels), list(now.aliases)) == ({"stage": "production"}, ["production"])
    listed = call(
        stub,
        "ListModelVersions",
        rpc.ListModelVersionsRequest(parent=f"projects/{project}/models/m"),
    )
    assert [v.version for v in listed.model_versions] == [1]


def test_state_change_replay_is_the_first_response(stub: Any, project: str) -> None:
    v = register(stub, project, "m", rid())
    archive = rpc.ArchiveModelVersionRequest(name=v.name, request_id=rid())
    archived = call(stub, "ArchiveModelVersion", archive)
    restored = call(stub, "RestoreModelVersion", rpc.RestoreModelVersionRequest(name=v.name))
    assert restored.state == pb.ModelVersion.READY
    replay = call(stub, "ArchiveModelVersion", archive)
    assert replay == archived
    assert replay.state == pb.ModelVersion.ARCHIVED
    now = call(stub, "GetModelVersion", rpc.GetModelVersionRequest(name=v.name))
    assert now.state == pb.ModelVersion.READY  # the replay did not archive it again


def test_alias_replays_return_the_first_response(stub: Any, project: str) -> None:
    parent = f"projects/{project}/models/m"
    for _ in range(3):
        register(stub, project, "m", rid())
    set_one = rpc.SetAliasRequest(parent=parent, alias="production", version="1", request_id=rid())
    first = call(stub, "SetAlias", set_one)
    call(stub, "SetAlias", rpc.SetAliasRequest(parent=parent, alias="production", version="2"))
    call(stub, "SetAlias", rpc.SetAliasRequest(parent=parent, alias="production", version="3"))
    assert call(stub, "SetAlias", set_one) == first  # not moved back to 1
    rollback = rpc.RollbackAliasRequest(name=f"{parent}/aliases/production", request_id=rid())
    rolled = call(stub, "RollbackAlias", rollback)
    assert rolled.version == 2
    assert call(stub, "RollbackAlias", rollback) == rolled  # not rolled back again
    history = call(
        stub,
        "ListAliasHistory",
        rpc.ListAliasHistoryRequest(name=f"{parent}/aliases/production"),
    )
    assert [(e.from_version, e.to_version) for e in history.events] == [
        (3, 2),
        (2, 3),
        (1, 2),
        (0, 1),
    ]
    alias = f"{parent}/aliases/production"
    delete = rpc.DeleteAliasRequest(name=alias, request_id=rid())
    call(stub, "DeleteAlias", delete)
    call(stub, "DeleteAlias", delete)  # a replay, not NOT_FOUND
    history = call(stub, "ListAliasHistory", rpc.ListAliasHistoryRequest(name=alias))
    assert [e.kind for e in history.events][:2] == [pb.AliasEvent.DELETE, pb.AliasEvent.ROLLBACK]


def test_same_id_with_another_request_is_refused_and_writes_nothing(
    stub: Any, project: str
) -> None:
    key = rid()
    register(stub, project, "m", key)
    with pytest.raises(grpc.RpcError) as info:
        register(stub, project, "m", key, uri="s3://b/other.pt")
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    err = modelreg._errors.from_rpc_error(
        info.value.code(), info.value.details(), info.value.trailing_metadata()
    )
    assert (err.field, err.reason) == ("request_id", "REQUEST_ID_REUSED")
    listed = call(stub, "ListModels", rpc.ListModelsRequest(parent=f"projects/{project}"))
    assert [(m.name.rsplit("/")[-1], m.version_count) for m in listed.models] == [("m", 1)]


def test_ids_are_per_method_and_resource(stub: Any, project: str) -> None:
    key = rid()
    call(stub, "CreateModel", rpc.CreateModelRequest(
        parent=f"projects/{project}", model_id="named", request_id=key))  # fmt: skip
    # The same id on another method, or for another resource, is another key: a
    # pipeline may derive its ids from step names in every project it runs in.
    first = register(stub, project, "m", key)
    other_model = register(stub, project, "other", key, uri="s3://b/other.pt")
    other = unique("idem")
    call(stub, "CreateProject", rpc.CreateProjectRequest(project_id=other))
    other_project = register(stub, other, "m", key, uri="s3://b/third.pt")
    assert [v.name for v in (first, other_model, other_project)] == [
        f"projects/{project}/models/m/versions/1",
        f"projects/{project}/models/other/versions/1",
        f"projects/{other}/models/m/versions/1",
    ]


def test_a_failed_call_leaves_its_id_free(stub: Any, project: str) -> None:
    key = rid()
    missing = rpc.CreateModelRequest(parent="projects/nope_missing", model_id="m", request_id=key)
    with pytest.raises(grpc.RpcError) as info:
        call(stub, "CreateModel", missing)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    ok = rpc.CreateModelRequest(parent=f"projects/{project}", model_id="m", request_id=key)
    assert call(stub, "CreateModel", ok).name == f"projects/{project}/models/m"
