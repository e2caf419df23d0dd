"""What users of the registry rely on, end to end over gRPC through the SDK."""

from __future__ import annotations

import inspect

import grpc
import pytest
from google.protobuf import field_mask_pb2

import modelreg
from modelreg import CodeVersion, DataRef, DataRole, VersionState
from modelreg.api.v1 import registry_service_pb2 as rpc
from modelreg.api.v1 import resources_pb2 as pb
from tests.conftest import unique
from tests.support import (
    UTC_OFFSET,
    dataset_version,
    insert_run,
    numbers,
    register,
    tracking_stub,
)

# Projects


def test_project_crud(client: modelreg.Client) -> None:
    name = unique("proj")
    created = client.create_project(name, description="first", labels={"team": "nlp"})
    assert (created.name, created.description, created.labels) == (name, "first", {"team": "nlp"})
    assert created.resource_name == f"projects/{name}"
    assert created.create_time.utcoffset() == UTC_OFFSET

    with pytest.raises(modelreg.AlreadyExistsError):
        client.create_project(name)

    assert client.get_project(name) == created
    listed = list(client.list_projects(filter=f'name = "{name}"'))
    assert listed == [created]

    updated = client.update_project(name, description="second")
    assert updated.description == "second"
    assert updated.labels == {"team": "nlp"}  # not in the update mask: untouched
    assert updated.etag != created.etag
    assert client.get_project(name) == updated
    with pytest.raises(modelreg.ConflictError):
        client.update_project(name, description="third", etag=created.etag)
    assert client.get_project(name).description == "second"

    client.create_model(name, "m")
    with pytest.raises(modelreg.FailedPreconditionError):
        client.delete_project(name)
    assert client.get_project(name).name == name
    client.delete_project(name, force=True)
    with pytest.raises(modelreg.NotFoundError):
        client.get_project(name)
    assert list(client.list_projects(filter=f'name = "{name}"')) == []


def test_missing_project_is_not_found(client: modelreg.Client) -> None:
    missing = unique("nope")
    with pytest.raises(modelreg.NotFoundError):
        client.get_project(missing)
    with pytest.raises(modelreg.NotFoundError):
        client.register_model_version(missing, "m", artifact_uri="s3://b/x.pt")


# Models


def test_models(client: modelreg.Client, project: str) -> None:
    explicit = client.create_model(project, "explicit", description="made by hand")
    assert (explicit.project, explicit.name, explicit.version_count) == (project, "explicit", 0)
    with pytest.raises(modelreg.AlreadyExistsError):
        client.create_model(project, "explicit")

    v = client.register_model_version(project, "auto", artifact_uri="s3://b/auto.pt")
    assert v.version == 1
    auto = client.get_model(project, "auto")
    assert auto.version_count == 1

    assert [m.name for m in client.list_models(project)] == ["auto", "explicit"]
    assert [m.name for m in client.list_models(project, filter='name = "auto"')] == ["auto"]

    labelled = client.update_model(project, "explicit", labels={"team": "nlp", "tier": "1"})
    assert labelled.labels == {"team": "nlp", "tier": "1"}
    assert labelled.description == "made by hand"
    assert labelled.etag != explicit.etag
    assert client.get_model(project, "explicit").labels == {"team": "nlp", "tier": "1"}

    client.delete_model(project, "explicit")
    with pytest.raises(modelreg.NotFoundError):
        client.get_model(project, "explicit")
    with pytest.raises(modelreg.FailedPreconditionError):
        client.delete_model(project, "auto")  # it has a version
    client.delete_model(project, "auto", force=True)
    assert list(client.list_models(project)) == []


# Versions


def test_every_recorded_field_round_trips(
    client: modelreg.Client, project: str, target: str, database_url: str
) -> None:
    model = "translator"
    # What the version references must exist: its dataset versions and its run.
    with tracking_stub(target) as tracking:
        dataset_version(tracking, project, "wmt-kr-en", "2024-01")
        dataset_version(tracking, project, "wmt-kr-en-dev", "v3")
        dataset_version(tracking, project, "batches", "b-17", batch_id="b-17")
    insert_run(database_url, project, "run-42")
    base = client.register_model_version(project, model, artifact_uri="s3://b/base.pt")
    client.set_alias(project, model, "production", base.version)
    sha = "ab" * 32
    config = {"layers": 6, "heads": 8, "dropout": 0.1, "act": "gelu", "dims": [512, 2048]}
    params: dict[str, bool | int | float | str] = {
        "epochs": 3,
        "lr": 0.01,
        "optimizer": "adam",
        "use_ema": True,
        "shuffle": False,
        "seed": 2**62,
        "negative": -7,
    }
    data: list[DataRef | dict[str, str]] = [
        DataRef("wmt-kr-en", version="2024-01", role=DataRole.TRAIN),
        DataRef("wmt-kr-en-dev", version="v3", role=DataRole.VALIDATION),
        {"dataset": "batches", "version": "b-17", "role": "TEST"},
    ]
    code = CodeVersion(repo="https://example.com/nmt.git", commit="0123abc", dirty=True)
    v = client.register_model_version(
        project,
        model,
        artifact_uri="s3://b/v2.safetensors",
        artifact_sha256=sha,
        artifact_size=123_456_789_012,
        artifact_format="safetensors",
        architecture="transformer-base",
        architecture_config=config,
        params=params,
        training_data=data,
        source_run=f"projects/{project}/runs/run-42",
        code_version=code,
        # By alias: the server records the exact version it named.
        parent_version=f"projects/{project}/models/{model}/versions/production",
        labels={"team": "nlp", "stage": "candidate"},
        description="fine-tuned from the production model",
    )

    for got in (v, client.get_model_version(project, model, v.version)):
        assert (got.project, got.model, got.version) == (project, model, 2)
        assert got.display_name == f"{model}_v2"
        assert got.resource_name == f"projects/{project}/models/{model}/versions/2"
        assert got.artifact == modelreg.Artifact(
            uri="s3://b/v2.safetensors",
            sha256=sha,
            size_bytes=123_456_789_012,
            format="safetensors",
        )
        assert got.architecture == "transformer-base"
        assert got.architecture_config == config
        assert got.params == params
        for key, value in params.items():
            assert type(got.params[key]) is type(value), key
        assert got.params["seed"] == 2**62

        def named(dataset: str, version: str) -> str:
            return f"projects/{project}/datasets/{dataset}/versions/{version}"

        assert got.training_data == (
            DataRef("wmt-kr-en", "2024-01", "", DataRole.TRAIN, named("wmt-kr-en", "2024-01")),
            DataRef("wmt-kr-en-dev", "v3", "", DataRole.VALIDATION, named("wmt-kr-en-dev", "v3")),
            # The batch id is the dataset version's.
            DataRef("batches", "b-17", "b-17", DataRole.TEST, named("batches", "b-17")),
        )
        assert got.source_run == f"projects/{project}/runs/run-42"
        assert got.code_version == code
        assert got.parent_version == f"projects/{project}/models/{model}/versions/1"
        assert got.labels == {"team": "nlp", "stage": "candidate"}
        assert got.description == "fine-tuned from the production model"
        assert got.state is VersionState.READY
        assert got.created_by == "tester"
        assert got.create_time.tzinfo is not None
        assert got.create_time.utcoffset() == UTC_OFFSET
        assert got.update_time.utcoffset() == UTC_OFFSET

    assert client.get_model_version(project, model, 2) == v
    assert client.get_model_version(project, model, 1).aliases == ("production",)


def test_bad_input_names_the_field(client: modelreg.Client, project: str) -> None:
    with pytest.raises(modelreg.InvalidArgumentError) as info:
        client.register_model_version(project, "m", artifact_uri="")
    assert info.value.field == "model_version.artifact.uri"
    with pytest.raises(modelreg.InvalidArgumentError) as info:
        client.register_model_version(
            project, "m", artifact_uri="s3://b/x.pt", parent_version=f"projects/{project}/x"
        )
    assert info.value.field == "model_version.parent_version"
    with pytest.raises(modelreg.NotFoundError):
        client.get_model(project, "m")  # nothing was written


def test_get_by_number_alias_and_latest(client: modelreg.Client, project: str) -> None:
    register(client, project, "m", 3)
    assert client.get_model_version(project, "m", 2).version == 2
    assert client.get_model_version(project, "m", "2").version == 2
    assert client.get_model_version(project, "m", "latest").version == 3
    client.set_alias(project, "m", "staging", 1)
    assert client.get_model_version(project, "m", "staging").version == 1

    # latest is the highest READY version.
    client.archive_model_version(project, "m", 3)
    assert client.get_model_version(project, "m", "latest").version == 2
    client.restore_model_version(project, "m", 3)
    assert client.get_model_version(project, "m", "latest").version == 3

    with pytest.raises(modelreg.NotFoundError):
        client.get_model_version(project, "m", 4)
    with pytest.raises(modelreg.NotFoundError):
        client.get_model_version(project, "m", "nosuchalias")
    with pytest.raises(modelreg.NotFoundError):
        client.get_model_version(project, "nosuchmodel", 1)


def test_update_description_and_labels_but_not_params(
    client: modelreg.Client, sync_client: modelreg.Client, project: str
) -> None:
    v = client.register_model_version(
        project, "m", artifact_uri="s3://b/1.pt", params={"lr": 0.01}, labels={"a": "1"}
    )
    described = client.update_model_version(project, "m", 1, description="better")
    assert (described.description, described.labels) == ("better", {"a": "1"})
    assert described.etag != v.etag
    relabelled = client.update_model_version(project, "m", 1, labels={"b": "2"})
    assert (relabelled.description, relabelled.labels) == ("better", {"b": "2"})
    # Filters read the label rows, gets read the version row: both see the new labels.
    assert numbers(client.list_model_versions(project, "m", filter='labels.b = "2"')) == [1]
    assert numbers(client.list_model_versions(project, "m", filter='labels.a = "1"')) == []
    assert client.get_model_version(project, "m", 1).labels == {"b": "2"}
    with pytest.raises(modelreg.ConflictError):
        client.update_model_version(project, "m", 1, description="stale", etag=v.etag)

    # The SDK offers no way to change params, and the API refuses it.
    assert "params" not in inspect.signature(client.update_model_version).parameters
    request = rpc.UpdateModelVersionRequest(
        model_version=pb.ModelVersion(
            name=f"projects/{project}/models/m/versions/1",
            params={"lr": pb.ParamValue(float_value=0.5)},
        ),
        update_mask=field_mask_pb2.FieldMask(paths=["params"]),
    )
    with pytest.raises(grpc.RpcError) as info:
        sync_client.stub.UpdateModelVersion(request, timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert client.get_model_version(project, "m", 1).params == {"lr": 0.01}


def test_archive_restore_and_soft_delete(client: modelreg.Client, project: str) -> None:
    register(client, project, "m", 3)
    archived = client.archive_model_version(project, "m", 2)
    assert archived.state is VersionState.ARCHIVED
    assert numbers(client.list_model_versions(project, "m")) == [1, 2, 3]
    restored = client.restore_model_version(project, "m", 2)
    assert restored.state is VersionState.READY

    deleted = client.delete_model_version(project, "m", 3)
    assert deleted.state is VersionState.DELETED
    assert numbers(client.list_model_versions(project, "m")) == [1, 2]
    shown = list(client.list_model_versions(project, "m", show_deleted=True))
    assert [(v.version, v.state) for v in shown] == [
        (1, VersionState.READY),
        (2, VersionState.READY),
        (3, VersionState.DELETED),
    ]
    assert client.get_model_version(project, "m", "latest").version == 2
    # The number of a deleted version is never reused.
    assert register(client, project, "m")[0].version == 4
    assert client.get_model(project, "m").version_count == 4
    assert client.restore_model_version(project, "m", 3).state is VersionState.READY
    assert numbers(client.list_model_versions(project, "m")) == [1, 2, 3, 4]

    # A version an alias points at cannot be deleted.
    client.set_alias(project, "m", "production", 1)
    with pytest.raises(modelreg.FailedPreconditionError):
        client.delete_model_version(project, "m", 1)
    assert client.get_model_version(project, "m", 1).state is VersionState.READY
    # Nor can an alias be pointed at a deleted version.
    client.delete_model_version(project, "m", 2)
    with pytest.raises(modelreg.FailedPreconditionError):
        client.set_alias(project, "m", "production", 2)
    assert client.get_alias(project, "m", "production").version == 1


def test_list_pagination_and_order(
    client: modelreg.Client, sync_client: modelreg.Client, project: str
) -> None:
    created = register(client, project, "m", 25)
    assert numbers(created) == list(range(1, 26))

    paged = list(client.list_model_versions(project, "m", page_size=7))
    assert numbers(paged) == list(range(1, 26))

    # The pages really are 7 long: 7 + 7 + 7 + 4.
    sizes: list[int] = []
    request = rpc.ListModelVersionsRequest(parent=f"projects/{project}/models/m", page_size=7)
    for _ in range(10):
        response = sync_client.stub.ListModelVersions(request, timeout=10)
        sizes.append(len(response.model_versions))
        if not response.next_page_token:
            break
        request.page_token = response.next_page_token
    assert sizes == [7, 7, 7, 4]

    desc = list(client.list_model_versions(project, "m", order_by="version desc", page_size=7))
    assert numbers(desc) == list(range(25, 0, -1))
    by_time = list(client.list_model_versions(project, "m", order_by="create_time", page_size=7))
    assert numbers(by_time) == sorted(range(1, 26), key=lambda n: created[n - 1].create_time)
    assert [v.create_time for v in by_time] == sorted(v.create_time for v in created)

    with pytest.raises(modelreg.InvalidArgumentError) as info:
        list(client.list_model_versions(project, "m", order_by="params.lr"))
    assert info.value.field == "order_by"


def test_list_filters(client: modelreg.Client, project: str) -> None:
    rows: list[tuple[float, str, bool, dict[str, str]]] = [
        (0.1, "sgd", False, {"team": "nlp"}),  # 1
        (0.01, "adam", True, {"team": "cv"}),  # 2
        (0.001, "adam", False, {"team": "nlp"}),  # 3
        (0.05, "sgd", True, {}),  # 4
        (0.03, "rmsprop", True, {"team": "nlp"}),  # 5
        (0.2, "adam", False, {"team": "speech"}),  # 6
    ]
    versions = [
        client.register_model_version(
            project,
            "m",
            artifact_uri=f"s3://b/{i}.pt",
            params={"lr": lr, "optimizer": opt, "use_ema": ema},
            labels=labels,
        )
        for i, (lr, opt, ema, labels) in enumerate(rows)
    ]
    client.archive_model_version(project, "m", 6)

    def listed(text: str) -> list[int]:
        return numbers(client.list_model_versions(project, "m", filter=text))

    assert listed("params.lr < 0.05") == [2, 3, 5]
    assert listed('params.optimizer = "adam"') == [2, 3, 6]
    assert listed("params.use_ema = true") == [2, 4, 5]
    assert listed('labels.team = "nlp"') == [1, 3, 5]
    assert listed('labels.team != "nlp"') == [2, 4, 6]  # no label at all counts as "not nlp"
    assert listed('state = "ARCHIVED"') == [6]
    assert listed("version >= 3 AND version <= 5") == [3, 4, 5]
    assert listed('params.lr < 0.05 AND params.optimizer = "adam"') == [2, 3]
    since = versions[2].create_time.isoformat()
    assert listed(f'create_time > "{since}"') == [
        v.version for v in versions if v.create_time > versions[2].create_time
    ]
    assert not {1, 2, 3} & set(listed(f'create_time > "{since}"'))

    for bad in ("params.lr <", "nosuchfield = 1", 'version = "three"', "lr < 0.1 OR x = 1"):
        with pytest.raises(modelreg.InvalidArgumentError) as info:
            listed(bad)
        assert info.value.field == "filter", bad


# AsyncClient


async def test_async_client(aclient: modelreg.AsyncClient) -> None:
    project = unique("proj")
    await aclient.create_project(project)
    made = [
        await aclient.register_model_version(
            project, "m", artifact_uri=f"s3://b/{i}.pt", params={"i": i, "lr": 0.5}
        )
        for i in range(5)
    ]
    assert numbers(made) == [1, 2, 3, 4, 5]
    got = await aclient.get_model_version(project, "m", 3)
    assert (got.version, got.params, got.created_by) == (3, {"i": 2, "lr": 0.5}, "tester")
    assert got.create_time.utcoffset() == UTC_OFFSET

    seen = [v.version async for v in aclient.list_model_versions(project, "m", page_size=2)]
    assert seen == [1, 2, 3, 4, 5]
    await aclient.set_alias(project, "m", "production", 4)
    assert (await aclient.get_model_version(project, "m", "production")).version == 4

    with pytest.raises(modelreg.NotFoundError):
        await aclient.get_model_version(project, "m", 6)
    with pytest.raises(modelreg.NotFoundError):
        await aclient.get_model(project, "nosuchmodel")
