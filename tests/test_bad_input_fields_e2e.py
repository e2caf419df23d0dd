"""Bad input in what users send: names, labels, version fields, architecture
config, aliases. INVALID_ARGUMENT (or the documented status) with the field
named, never INTERNAL, and nothing written: checked the way a user would see it
(version_count, lists, NotFound, the next gapless number) and once in SQL."""

from __future__ import annotations

import json
import math
from typing import Any

import grpc
import pytest
from sqlalchemy import text

import modelreg
from modelreg.api.v1 import registry_service_pb2 as rpc
from modelreg.api.v1 import resources_pb2 as pb
from modelreg_server.storage.store import Store
from tests.bad_input import (
    CONFIG_FIELD,
    assert_raw_invalid,
    invalid,
    nested,
    project_names,
    register,
    versions,
)
from tests.conftest import unique
from tests.support import dataset_version, tracking_stub

# Projects


@pytest.mark.parametrize(
    "bad",
    [
        "Translate_kr2en",  # upper case
        "1translate",  # leading digit
        "a" * 64,  # one past the 63-character limit
        "team/translate",  # slash
        "",  # empty
        "trailing_newline\n",  # `$` in a regex would let this one through
        "_underscore_first",
        "has space",
        "caf\u00e9",  # non-ASCII
    ],
)
def test_bad_project_name(client: modelreg.Client, bad: str) -> None:
    err = invalid(lambda: client.create_project(bad), "project_id")
    assert err.reason == "INVALID_ARGUMENT"
    assert project_names(client, bad) == []


def test_longest_project_name_is_accepted(client: modelreg.Client) -> None:
    name = unique("p") + "x" * (63 - len(unique("p")))
    assert len(name) == 63
    assert client.create_project(name).name == name


def test_huge_bad_name_is_not_echoed_back_in_full(client: modelreg.Client) -> None:
    # Error details travel in trailers (16 KiB limit by default): echoing a huge
    # input would turn INVALID_ARGUMENT into RESOURCE_EXHAUSTED on the client.
    err = invalid(lambda: client.create_project("A" * 100_000), "project_id")
    assert len(err.details) < 500


def test_bad_project_labels(client: modelreg.Client) -> None:
    name = unique("p")
    too_many = {f"k{i}": "v" for i in range(65)}
    invalid(lambda: client.create_project(name, labels=too_many), "project.labels")
    invalid(lambda: client.create_project(name, labels={"Team": "nlp"}), "project.labels['Team']")
    invalid(
        lambda: client.create_project(name, labels={"team": "x" * 257}), "project.labels['team']"
    )
    invalid(lambda: client.create_project(name, description="x" * 10_001), "project.description")
    with pytest.raises(modelreg.NotFoundError):
        client.get_project(name)
    # 64 labels is the limit, not past it.
    ok = client.create_project(name, labels={f"k{i}": "v" for i in range(64)})
    assert len(ok.labels) == 64


# Registering versions


def test_unknown_project_is_not_found_and_creates_nothing(client: modelreg.Client) -> None:
    ghost = unique("ghost")
    with pytest.raises(modelreg.NotFoundError) as info:
        register(client, ghost)
    assert info.value.code == grpc.StatusCode.NOT_FOUND
    assert info.value.reason == "NOT_FOUND"
    assert info.value.metadata["kind"] == "project"
    with pytest.raises(modelreg.NotFoundError):
        client.get_project(ghost)
    with pytest.raises(modelreg.NotFoundError):
        client.get_model(ghost, "m")


@pytest.mark.parametrize(
    "bad", ["Model", "1model", "m" * 64, "m\n", "my model", "team/model", "", "-m"]
)
def test_bad_model_name_names_parent_and_creates_no_model(
    client: modelreg.Client, project: str, bad: str
) -> None:
    invalid(lambda: register(client, project, bad), "parent")
    assert list(client.list_models(project)) == []


BAD_VERSION_FIELDS: list[tuple[str, dict[str, Any], str]] = [
    ("no uri", {"artifact_uri": ""}, "model_version.artifact.uri"),
    ("uri too long", {"artifact_uri": "s3://" + "x" * 2100}, "model_version.artifact.uri"),
    ("uri with NUL", {"artifact_uri": "s3://a\x00b"}, "model_version.artifact.uri"),
    ("short sha256", {"artifact_sha256": "abc123"}, "model_version.artifact.sha256"),
    ("upper-case sha256", {"artifact_sha256": "A" * 64}, "model_version.artifact.sha256"),
    ("sha256 + newline", {"artifact_sha256": "a" * 64 + "\n"}, "model_version.artifact.sha256"),
    ("negative size", {"artifact_size": -1}, "model_version.artifact.size_bytes"),
    ("1001 params", {"params": {f"p{i}": i for i in range(1001)}}, "model_version.params"),
    ("long string param", {"params": {"s": "x" * 4097}}, "model_version.params['s']"),
    ("param key with digit", {"params": {"1lr": 0.1}}, "model_version.params['1lr']"),
    ("param key with space", {"params": {"l r": 0.1}}, "model_version.params['l r']"),
    ("NaN param", {"params": {"lr": math.nan}}, "model_version.params['lr']"),
    ("inf param", {"params": {"lr": math.inf}}, "model_version.params['lr']"),
    ("-inf param", {"params": {"lr": -math.inf}}, "model_version.params['lr']"),
    ("65 labels", {"labels": {f"k{i}": "v" for i in range(65)}}, "model_version.labels"),
    ("bad label key", {"labels": {"Team": "nlp"}}, "model_version.labels['Team']"),
    ("long label value", {"labels": {"team": "x" * 257}}, "model_version.labels['team']"),
    ("long description", {"description": "x" * 10_001}, "model_version.description"),
    ("dataset missing", {"training_data": [{"dataset": ""}]}, "model_version.training_data[0]"),
    ("version missing", {"training_data": [{"dataset": "d"}]}, "model_version.training_data[0]"),
    (
        "no such dataset version",
        {
            "training_data": [
                {"dataset": "kr_en", "version": "2024"},
                {"dataset": "d", "version": "v"},
            ]
        },
        "model_version.training_data[1]",
    ),
    (
        "bad dataset id",
        {"training_data": [{"dataset": "Kr En", "version": "v1"}]},
        "model_version.training_data[0].dataset",
    ),
    (
        "bad dataset version id",
        {"training_data": [{"dataset": "kr_en", "version": "-v1"}]},
        "model_version.training_data[0].version",
    ),
    ("no such run", {"source_run": "run-404"}, "model_version.source_run"),
    ("no such run name", {"source_run": "projects/x/runs/run-1"}, "model_version.source_run"),
    ("bad run name", {"source_run": "projects/x/runs"}, "model_version.source_run"),
    ("bad run id", {"source_run": "Run 1"}, "model_version.source_run"),
    ("config too deep", {"architecture_config": nested(33)}, CONFIG_FIELD),
    ("config NaN", {"architecture_config": {"dropout": math.nan}}, CONFIG_FIELD),
    ("config NUL", {"architecture_config": {"name": "a\x00b"}}, CONFIG_FIELD),
    ("bad parent name", {"parent_version": "projects/x"}, "model_version.parent_version"),
    ("bad request_id", {"request_id": "has space"}, "request_id"),
]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [pytest.param(kw, f, id=name) for name, kw, f in BAD_VERSION_FIELDS],
)
def test_bad_version_field_is_named_and_leaves_no_gap(
    client: modelreg.Client, project: str, target: str, kwargs: dict[str, Any], field: str
) -> None:
    with tracking_stub(target) as tracking:
        dataset_version(tracking, project, "kr_en", "2024")
    assert register(client, project) == 1
    invalid(lambda: register(client, project, **kwargs), field)
    assert client.get_model(project, "m").version_count == 1
    assert versions(client, project, "m") == [1]
    assert register(client, project) == 2


def test_limits_are_inclusive(client: modelreg.Client, project: str) -> None:
    v = client.register_model_version(
        project,
        "m",
        artifact_uri="s3://b/m.pt",
        artifact_sha256="0123456789abcdef" * 4,
        params={**{f"p{i}": i for i in range(999)}, "s": "x" * 2400},
        labels={f"k{i}": "v" * 256 for i in range(64)},
        architecture_config=nested(32),
    )
    assert (len(v.params), len(v.labels)) == (1000, 64)
    assert v.architecture_config == nested(32)


def test_bad_input_on_a_new_model_does_not_create_it(client: modelreg.Client, project: str) -> None:
    invalid(
        lambda: register(client, project, "fresh", artifact_uri=""), "model_version.artifact.uri"
    )
    with pytest.raises(modelreg.NotFoundError):
        client.get_model(project, "fresh")
    assert register(client, project, "fresh") == 1


def test_missing_parent_version_is_invalid(client: modelreg.Client, project: str) -> None:
    register(client, project)
    parent = f"projects/{project}/models/m/versions/7"
    invalid(
        lambda: register(client, project, parent_version=parent), "model_version.parent_version"
    )
    assert versions(client, project, "m") == [1]


def test_rejected_request_id_is_not_burnt(client: modelreg.Client, project: str) -> None:
    # The rejected call rolled back whole: its request_id is free for the real one.
    invalid(
        lambda: register(client, project, artifact_sha256="nope", request_id="rid-1"),
        "model_version.artifact.sha256",
    )
    assert register(client, project, request_id="rid-1") == 1
    # ...after which the same id with another payload is refused, and writes nothing.
    err = invalid(
        lambda: register(client, project, artifact_uri="s3://other", request_id="rid-1"),
        "request_id",
    )
    assert err.reason == "REQUEST_ID_REUSED"
    assert register(client, project, request_id="rid-1") == 1  # a true retry replays
    assert client.get_model(project, "m").version_count == 1


async def test_rejected_registration_leaves_no_rows(
    aclient: modelreg.AsyncClient, project: str, store: Store, target: str
) -> None:
    with tracking_stub(target) as tracking:
        dataset_version(tracking, project, "kr_en", "2024")
    await aclient.register_model_version(project, "m", artifact_uri="s3://b/1.pt")
    rich: dict[str, Any] = {
        "artifact_uri": "s3://b/2.pt",
        "labels": {"team": "nlp"},
        "training_data": [{"dataset": "kr_en", "version": "2024"}],
    }
    bad_params: list[dict[str, Any]] = [
        {"ok": 1, "lr": math.nan},
        {"ok": 1, "s": "x" * 4097},
        {f"p{i}": i for i in range(1001)},
    ]
    for params in bad_params:
        with pytest.raises(modelreg.InvalidArgumentError):
            await aclient.register_model_version(project, "m", params=params, **rich)
    # A reference to a missing dataset version, after good ones: nothing either.
    missing = [*rich["training_data"], {"dataset": "kr_en", "version": "2025"}]
    with pytest.raises(modelreg.InvalidArgumentError):
        await aclient.register_model_version(project, "m", **{**rich, "training_data": missing})
    # Every row a registration fans out into, for this model.
    counts = text(
        """
        WITH v AS (
            SELECT v.id FROM model_versions v
            JOIN models m ON m.id = v.model_id
            JOIN projects p ON p.id = m.project_id
            WHERE p.name = :project AND m.name = 'm'
        )
        SELECT (SELECT count(*) FROM v) AS versions,
               (SELECT count(*) FROM model_version_params WHERE version_id IN (SELECT id FROM v))
                   AS params,
               (SELECT count(*) FROM model_version_labels WHERE version_id IN (SELECT id FROM v))
                   AS labels,
               (SELECT count(*) FROM model_version_data WHERE version_id IN (SELECT id FROM v))
                   AS data
        """
    )
    async with store.read() as conn:
        row = (await conn.execute(counts, {"project": project})).one()
        count = await conn.scalar(
            text(
                "SELECT m.version_count FROM models m JOIN projects p ON p.id = m.project_id "
                "WHERE p.name = :project AND m.name = 'm'"
            ),
            {"project": project},
        )
    assert (row.versions, row.params, row.labels, row.data) == (1, 0, 0, 0)
    assert count == 1
    v = await aclient.register_model_version(project, "m", params={"lr": 0.1}, **rich)
    assert v.version == 2


# Architecture config sent as raw bytes


def _config_request(project: str, config: bytes) -> rpc.CreateModelVersionRequest:
    return rpc.CreateModelVersionRequest(
        parent=f"projects/{project}/models/m",
        model_version=pb.ModelVersion(
            artifact=pb.Artifact(uri="s3://b/m.pt"),
            architecture=pb.Architecture(name="transformer", config_json=config),
        ),
    )


@pytest.mark.parametrize(
    "config",
    [
        pytest.param(b"{not json", id="malformed"),
        pytest.param(b'{"layers": 12', id="truncated"),
        pytest.param(b"[1, 2]", id="array"),
        pytest.param(b'"transformer"', id="string"),
        pytest.param(b"\xff\xfe\x00", id="not-utf8"),
        pytest.param(json.dumps(nested(33)).encode(), id="33-deep"),
        pytest.param(b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}", id="100k-deep"),
        pytest.param(b'{"a": NaN}', id="NaN"),
        pytest.param(b'{"a": -Infinity}', id="Infinity"),
        pytest.param(b'{"a": 1e999}', id="overflow"),
        pytest.param(b'{"a": "x\\u0000y"}', id="NUL-value"),
        pytest.param(b'{"x\\u0000y": 1}', id="NUL-key"),
        pytest.param(json.dumps({"w": "x" * 70_000}).encode(), id="over-64KiB"),
    ],
)
def test_bad_architecture_config_bytes(
    sync_client: modelreg.Client, project: str, config: bytes
) -> None:
    register(sync_client, project)
    status = assert_raw_invalid(
        sync_client.stub.CreateModelVersion, _config_request(project, config), CONFIG_FIELD
    )
    assert status.message.startswith(CONFIG_FIELD)
    assert versions(sync_client, project, "m") == [1]
    assert register(sync_client, project) == 2


def test_config_32_deep_is_accepted(sync_client: modelreg.Client, project: str) -> None:
    request = _config_request(project, json.dumps(nested(32)).encode())
    assert sync_client.stub.CreateModelVersion(request, timeout=10).version == 1


def test_bad_param_and_role_messages_via_stub(sync_client: modelreg.Client, project: str) -> None:
    base = _config_request(project, b"")
    empty_param = rpc.CreateModelVersionRequest()
    empty_param.CopyFrom(base)
    empty_param.model_version.params["lr"].CopyFrom(pb.ParamValue())
    assert_raw_invalid(
        sync_client.stub.CreateModelVersion, empty_param, "model_version.params['lr']"
    )
    bad_role = rpc.CreateModelVersionRequest()
    bad_role.CopyFrom(base)
    bad_role.model_version.training_data.add(dataset="d", role=42)
    assert_raw_invalid(
        sync_client.stub.CreateModelVersion, bad_role, "model_version.training_data[0].role"
    )
    with pytest.raises(modelreg.NotFoundError):
        sync_client.get_model(project, "m")


# Aliases


@pytest.mark.parametrize("bad", ["Production", "1prod", "prod/blue", "", "p" * 64, "latest"])
def test_bad_alias_name(client: modelreg.Client, project: str, bad: str) -> None:
    register(client, project)
    invalid(lambda: client.set_alias(project, "m", bad, 1), "alias")
    assert client.list_aliases(project, "m") == []
    assert client.get_model_version(project, "m", 1).aliases == ()


def test_reserved_alias_latest_says_why(client: modelreg.Client, project: str) -> None:
    register(client, project)
    err = invalid(lambda: client.set_alias(project, "m", "latest", 1), "alias")
    assert "reserved" in err.details


@pytest.mark.parametrize("to", ["9", "0", "99999999999999999999", "nosuchalias", "Bad!", ""])
def test_alias_to_a_bad_or_missing_version(client: modelreg.Client, project: str, to: str) -> None:
    register(client, project)
    invalid(lambda: client.set_alias(project, "m", "production", to), "version")
    assert client.list_aliases(project, "m") == []
    assert client.alias_history(project, "m", "production") == []
