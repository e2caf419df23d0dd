"""Bad input in how users ask: stale etags, filter/order_by/page tokens, update
masks, resource names, and the google.rpc details on the wire."""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

import modelreg
from modelreg.api.v1 import registry_service_pb2 as rpc
from modelreg.api.v1 import resources_pb2 as pb
from tests.bad_input import (
    DOMAIN,
    assert_raw_invalid,
    bad_fields,
    error_info,
    invalid,
    raw_failure,
    register,
    versions,
)
from tests.conftest import unique

# Stale etags


def _assert_stale(err: modelreg.ModelregError, current: str) -> None:
    assert isinstance(err, modelreg.ConflictError)
    assert err.code == grpc.StatusCode.ABORTED
    assert err.reason == "STALE_ETAG"
    assert err.metadata["current_etag"] == current


def test_stale_etag_on_update_project(client: modelreg.Client) -> None:
    name = unique("p")
    old = client.create_project(name, description="v1")
    new = client.update_project(name, description="v2", etag=old.etag)
    assert new.etag != old.etag
    with pytest.raises(modelreg.ConflictError) as info:
        client.update_project(name, description="lost update", etag=old.etag)
    _assert_stale(info.value, new.etag)
    assert client.get_project(name).description == "v2"
    assert client.get_project(name).etag == new.etag


def test_stale_etag_on_update_model(client: modelreg.Client, project: str) -> None:
    old = client.create_model(project, "m", description="v1")
    new = client.update_model(project, "m", description="v2", etag=old.etag)
    with pytest.raises(modelreg.ConflictError) as info:
        client.update_model(project, "m", labels={"a": "b"}, etag=old.etag)
    _assert_stale(info.value, new.etag)
    assert client.get_model(project, "m").labels == {}


def test_stale_etag_on_update_model_version(client: modelreg.Client, project: str) -> None:
    old = client.register_model_version(project, "m", artifact_uri="s3://b/1.pt")
    new = client.update_model_version(project, "m", 1, description="v2", etag=old.etag)
    with pytest.raises(modelreg.ConflictError) as info:
        client.update_model_version(project, "m", 1, labels={"x": "y"}, etag=old.etag)
    _assert_stale(info.value, new.etag)
    got = client.get_model_version(project, "m", 1)
    assert (got.description, got.labels, got.etag) == ("v2", {}, new.etag)


def test_stale_etag_on_set_alias(client: modelreg.Client, project: str) -> None:
    register(client, project)
    register(client, project)
    first = client.set_alias(project, "m", "production", 1)
    moved = client.set_alias(project, "m", "production", 2, etag=first.etag)
    with pytest.raises(modelreg.ConflictError) as info:
        client.set_alias(project, "m", "production", 1, etag=first.etag)
    _assert_stale(info.value, moved.etag)
    assert client.get_alias(project, "m", "production").version == 2
    assert [e.to_version for e in client.alias_history(project, "m", "production")] == [2, 1]


def test_etag_for_an_alias_that_does_not_exist_yet(client: modelreg.Client, project: str) -> None:
    register(client, project)
    with pytest.raises(modelreg.ConflictError) as info:
        client.set_alias(project, "m", "staging", 1, etag='W/"1"')
    assert info.value.reason == "STALE_ETAG"
    assert client.list_aliases(project, "m") == []


# List: filter, order_by, page_token, page_size


@pytest.mark.parametrize(
    ("listing", "must_mention"),
    [
        ("versions", ["version", "state", "params.<key>", "labels.<key>"]),
        ("models", ["name", "version_count", "labels.<key>"]),
        ("projects", ["name", "create_time", "labels.<key>"]),
    ],
)
def test_unknown_filter_field_lists_the_allowed_ones(
    client: modelreg.Client, project: str, listing: str, must_mention: list[str]
) -> None:
    register(client, project)
    calls: dict[str, Callable[[], Any]] = {
        "versions": lambda: list(client.list_model_versions(project, "m", filter="bogus = 1")),
        "models": lambda: list(client.list_models(project, filter="bogus = 1")),
        "projects": lambda: list(client.list_projects(filter="bogus = 1")),
    }
    err = invalid(calls[listing], "filter")
    assert "bogus" in err.details
    assert "allowed" in err.details
    for name in must_mention:
        assert name in err.details


@pytest.mark.parametrize(
    "bad",
    [
        "version",
        "version =",
        "= 1",
        "version == 1",
        "version = 1 AND",
        "version = 1 AND AND state = 1",
        'state = "READY" OR version = 1',
        "version = 1 version = 2",
        'architecture = "unterminated',
        "version ~ 1",
        "version = (1)",
        'version = "one"',
        "version = 1.5",
        "version = true",
        "version = 99999999999999999999",
        "params.lr < 1e999",
        'create_time > "yesterday"',
        'create_time > "2026-01-01T00:00:00"',  # no zone
        'state = "BOGUS"',
        'state < "READY"',
        'labels.team = "a\\u0000b"',
        "labels.team = 1",
        "x" * 2001,
    ],
)
def test_bad_filter_syntax_or_value(client: modelreg.Client, project: str, bad: str) -> None:
    register(client, project)
    invalid(lambda: list(client.list_model_versions(project, "m", filter=bad)), "filter")


@pytest.mark.parametrize(
    "bad", ["bogus", "version sideways", "version desc extra", "params.lr", "name", "-version"]
)
def test_bad_order_by(client: modelreg.Client, project: str, bad: str) -> None:
    register(client, project)
    err = invalid(lambda: list(client.list_model_versions(project, "m", order_by=bad)), "order_by")
    assert "version" in err.details and "create_time" in err.details


def test_bad_order_by_on_projects_and_models(client: modelreg.Client, project: str) -> None:
    invalid(lambda: list(client.list_projects(order_by="version")), "order_by")
    invalid(lambda: list(client.list_models(project, order_by="name up")), "order_by")


def test_negative_page_size(client: modelreg.Client, project: str) -> None:
    invalid(lambda: list(client.list_models(project, page_size=-1)), "page_size")


def _first_page_token(client: modelreg.Client, project: str, model: str, **kw: Any) -> str:
    request = rpc.ListModelVersionsRequest(
        parent=f"projects/{project}/models/{model}", page_size=1, **kw
    )
    token = str(client.stub.ListModelVersions(request, timeout=10).next_page_token)
    assert token
    return token


def _tampered(token: str, key: list[Any]) -> str:
    """``token`` with its key edited; its signature (the first 16 bytes) kept."""
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    data = json.loads(raw[16:])
    data["k"] = key
    return base64.urlsafe_b64encode(raw[:16] + json.dumps(data).encode()).decode().rstrip("=")


def test_bad_and_foreign_page_tokens(sync_client: modelreg.Client, project: str) -> None:
    for model in ("a", "b"):
        register(sync_client, project, model)
        register(sync_client, project, model)
    token = _first_page_token(sync_client, project, "a")
    parent_a = f"projects/{project}/models/a"
    parent_b = f"projects/{project}/models/b"
    cases = [
        rpc.ListModelVersionsRequest(parent=parent_a, page_token="not a token!"),
        rpc.ListModelVersionsRequest(parent=parent_a, page_token="e30"),  # "{}"
        rpc.ListModelVersionsRequest(parent=parent_a, page_token=token[:-3]),
        # Another model's listing.
        rpc.ListModelVersionsRequest(parent=parent_b, page_token=token),
        # The same model, another filter / order / flag.
        rpc.ListModelVersionsRequest(parent=parent_a, page_token=token, filter="version > 0"),
        rpc.ListModelVersionsRequest(parent=parent_a, page_token=token, order_by="version desc"),
        rpc.ListModelVersionsRequest(parent=parent_a, page_token=token, show_deleted=True),
    ]
    # Tokens are signed: an edited key is refused, and never reaches SQL.
    for key in (["one", 1], [1.5, 1], [None, None], [[1], 1], [True, 1], [2**70, 1], [1]):
        cases.append(
            rpc.ListModelVersionsRequest(parent=parent_a, page_token=_tampered(token, key))
        )
    for request in cases:
        assert_raw_invalid(sync_client.stub.ListModelVersions, request, "page_token")
    # The genuine token still works.
    request = rpc.ListModelVersionsRequest(parent=parent_a, page_size=1, page_token=token)
    assert [v.version for v in sync_client.stub.ListModelVersions(request).model_versions] == [2]


def test_project_token_is_refused_by_model_listing(
    sync_client: modelreg.Client, project: str
) -> None:
    sync_client.create_model(project, "a")
    sync_client.create_model(project, "b")
    listing = sync_client.stub.ListModels(
        rpc.ListModelsRequest(parent=f"projects/{project}", page_size=1), timeout=10
    )
    other = unique("p")
    sync_client.create_project(other)
    request = rpc.ListModelsRequest(parent=f"projects/{other}", page_token=listing.next_page_token)
    assert_raw_invalid(sync_client.stub.ListModels, request, "page_token")


# Update masks


def test_update_with_empty_mask(client: modelreg.Client, project: str) -> None:
    register(client, project)
    invalid(lambda: client.update_project(project), "update_mask")
    invalid(lambda: client.update_model(project, "m"), "update_mask")
    invalid(lambda: client.update_model_version(project, "m", 1), "update_mask")


@pytest.mark.parametrize("path", ["name", "etag", "create_time", "params", "artifact", ""])
def test_update_mask_with_unknown_or_immutable_path(
    sync_client: modelreg.Client, project: str, path: str
) -> None:
    v = sync_client.register_model_version(
        project, "m", artifact_uri="s3://b/1.pt", params={"lr": 0.1}, description="d"
    )
    mask = field_mask_pb2.FieldMask(paths=["description", path])
    assert_raw_invalid(
        sync_client.stub.UpdateProject,
        rpc.UpdateProjectRequest(
            project=pb.Project(name=f"projects/{project}", description="x"), update_mask=mask
        ),
        "update_mask",
    )
    assert_raw_invalid(
        sync_client.stub.UpdateModelVersion,
        rpc.UpdateModelVersionRequest(
            model_version=pb.ModelVersion(
                name=f"projects/{project}/models/m/versions/1",
                description="x",
                params={"lr": pb.ParamValue(float_value=0.5)},
                artifact=pb.Artifact(uri="s3://elsewhere"),
            ),
            update_mask=mask,
        ),
        "update_mask",
    )
    assert sync_client.get_project(project).description == ""
    got = sync_client.get_model_version(project, "m", 1)
    assert (got.description, got.params, got.artifact, got.etag) == (
        "d",
        {"lr": 0.1},
        v.artifact,
        v.etag,
    )


# Resource names


def _bad_names(p: str) -> list[tuple[str, Any, str]]:
    m = f"projects/{p}/models/m"
    mask = field_mask_pb2.FieldMask(paths=["description"])
    return [
        ("GetModelVersion", rpc.GetModelVersionRequest(name="projects/x"), "name"),
        ("GetModelVersion", rpc.GetModelVersionRequest(name=f"{m}/versions/"), "name"),
        ("GetModelVersion", rpc.GetModelVersionRequest(name=f"{m}/versions/1/x"), "name"),
        ("GetModelVersion", rpc.GetModelVersionRequest(name=f"{m}/versions/-1"), "name"),
        ("GetModelVersion", rpc.GetModelVersionRequest(name=f"{m}/versions/0"), "name"),
        ("GetModelVersion", rpc.GetModelVersionRequest(name=f"{m}/versions/{2**64}"), "name"),
        ("GetModelVersion", rpc.GetModelVersionRequest(name=f"{m}/versions/\u00b2"), "name"),
        ("GetModelVersion", rpc.GetModelVersionRequest(name=f"{m}/versions/\u0662"), "name"),
        ("GetModelVersion", rpc.GetModelVersionRequest(name=f"{m}/aliases/prod"), "name"),
        (
            "GetModelVersion",
            rpc.GetModelVersionRequest(name="projects/X/models/m/versions/1"),
            "name",
        ),
        ("GetProject", rpc.GetProjectRequest(name=""), "name"),
        ("GetProject", rpc.GetProjectRequest(name=p), "name"),
        ("GetProject", rpc.GetProjectRequest(name=f"project/{p}"), "name"),
        ("GetProject", rpc.GetProjectRequest(name=f"projects/{p}/"), "name"),
        ("GetProject", rpc.GetProjectRequest(name="projects/a\x00b"), "name"),
        ("GetProject", rpc.GetProjectRequest(name="projects/" + "a" * 20_000), "name"),
        ("GetModel", rpc.GetModelRequest(name=f"projects/{p}"), "name"),
        ("GetModel", rpc.GetModelRequest(name=f"projects/{p}/models/M"), "name"),
        ("GetModel", rpc.GetModelRequest(name=f"projects/{p}/models/m\x00"), "name"),
        ("ListModels", rpc.ListModelsRequest(parent=p), "parent"),
        ("ListModelVersions", rpc.ListModelVersionsRequest(parent=f"projects/{p}"), "parent"),
        ("ListAliases", rpc.ListAliasesRequest(parent=f"{m}/versions/1"), "parent"),
        ("GetAlias", rpc.GetAliasRequest(name=f"{m}/versions/prod"), "name"),
        ("GetAlias", rpc.GetAliasRequest(name=f"{m}/aliases/Prod"), "name"),
        ("ListAliasHistory", rpc.ListAliasHistoryRequest(name=f"{m}/aliases/"), "name"),
        ("DeleteModel", rpc.DeleteModelRequest(name=f"projects/{p}/models/M"), "name"),
        ("DeleteProject", rpc.DeleteProjectRequest(name=f"projects/{p.upper()}"), "name"),
        ("DeleteModelVersion", rpc.DeleteModelVersionRequest(name=m), "name"),
        ("CreateModel", rpc.CreateModelRequest(parent="projects/", model_id="m"), "parent"),
        ("CreateModel", rpc.CreateModelRequest(parent=f"projects/{p}", model_id="M"), "model_id"),
        ("CreateModelVersion", rpc.CreateModelVersionRequest(parent=f"projects/{p}"), "parent"),
        ("SetAlias", rpc.SetAliasRequest(parent=f"projects/{p}", alias="a", version="1"), "parent"),
        (
            "UpdateProject",
            rpc.UpdateProjectRequest(project=pb.Project(name=p), update_mask=mask),
            "project.name",
        ),
        (
            "UpdateModel",
            rpc.UpdateModelRequest(model=pb.Model(name=f"projects/{p}"), update_mask=mask),
            "model.name",
        ),
        (
            "UpdateModelVersion",
            rpc.UpdateModelVersionRequest(model_version=pb.ModelVersion(name=m), update_mask=mask),
            "model_version.name",
        ),
    ]


def test_bad_resource_names(sync_client: modelreg.Client, project: str) -> None:
    register(sync_client, project)
    for method, request, field in _bad_names(project):
        status = assert_raw_invalid(getattr(sync_client.stub, method), request, field)
        assert len(status.message) < 500, method  # a huge name is not echoed in full
    # Nothing above changed anything.
    assert [m.name for m in sync_client.list_models(project)] == ["m"]
    assert versions(sync_client, project, "m") == [1]


# The raw status on the wire


def test_invalid_argument_status_carries_error_info_and_bad_request(
    sync_client: modelreg.Client,
) -> None:
    request = rpc.CreateProjectRequest(project_id="Bad Name")
    with pytest.raises(grpc.RpcError) as info:
        sync_client.stub.CreateProject(request, timeout=10)
    err = info.value
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    trailers = dict(err.trailing_metadata())
    assert "grpc-status-details-bin" in trailers

    # Parsed by hand from the trailer...
    status = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert status.message == err.details()
    info_msg = error_info(status)
    assert (info_msg.reason, info_msg.domain) == ("INVALID_ARGUMENT", DOMAIN)
    assert dict(info_msg.metadata) == {"field": "project_id"}
    assert bad_fields(status) == ["project_id"]
    bad = error_details_pb2.BadRequest()
    next(d for d in status.details if d.Is(bad.DESCRIPTOR)).Unpack(bad)
    assert "Bad Name" in bad.field_violations[0].description

    # ...and by grpcio-status, which also checks it agrees with the call's code.
    assert rpc_status.from_call(err) == status


def test_not_found_and_aborted_statuses_carry_error_info(
    sync_client: modelreg.Client, project: str
) -> None:
    code, status = raw_failure(
        sync_client.stub.GetModel, rpc.GetModelRequest(name=f"projects/{project}/models/nope")
    )
    assert code == grpc.StatusCode.NOT_FOUND
    info = error_info(status)
    assert (info.reason, info.domain, info.metadata["kind"]) == ("NOT_FOUND", DOMAIN, "model")
    assert bad_fields(status) == []

    p = sync_client.get_project(project)
    sync_client.update_project(project, description="moved on", etag=p.etag)
    code, status = raw_failure(
        sync_client.stub.UpdateProject,
        rpc.UpdateProjectRequest(
            project=pb.Project(name=f"projects/{project}", description="stale", etag=p.etag),
            update_mask=field_mask_pb2.FieldMask(paths=["description"]),
        ),
    )
    assert code == grpc.StatusCode.ABORTED
    info = error_info(status)
    assert (info.reason, info.domain) == ("STALE_ETAG", DOMAIN)
    assert info.metadata["current_etag"] != p.etag


async def test_async_client_maps_bad_input_the_same_way(
    aclient: modelreg.AsyncClient, project: str
) -> None:
    with pytest.raises(modelreg.InvalidArgumentError) as info:
        await aclient.create_project("Bad")
    assert info.value.field == "project_id"
    with pytest.raises(modelreg.InvalidArgumentError) as info:
        await aclient.register_model_version(
            project, "m", artifact_uri="s3://b", params={"lr": math.inf}
        )
    assert info.value.field == "model_version.params['lr']"
    with pytest.raises(modelreg.InvalidArgumentError) as info:
        [p async for p in aclient.list_projects(filter="nope = 1")]
    assert info.value.field == "filter"
    with pytest.raises(modelreg.NotFoundError):
        await aclient.get_model(project, "m")
