"""Bad input, end to end over gRPC: INVALID_ARGUMENT (or the documented status)
with the offending field named, never INTERNAL, and nothing written.

"Nothing written" is checked the way a user would see it (version_count, lists,
NotFound, the next registration getting the next gapless number) and once at
the SQL level for the rows a registration fans out into."""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable
from functools import reduce
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status
from sqlalchemy import text

import modelreg
from modelreg.api.v1 import registry_service_pb2 as rpc
from modelreg.api.v1 import resources_pb2 as pb
from modelreg_server.storage.store import Store
from tests.conftest import unique

DOMAIN = "modelreg.dev"
CONFIG_FIELD = "model_version.architecture.config_json"


# Helpers


def nested(levels: int) -> dict[str, Any]:
    """A JSON object ``levels`` objects deep, with a scalar at the bottom."""
    return reduce(lambda inner, _: {"a": inner}, range(levels - 1), {"a": 1})


def raw_failure(
    call: Callable[..., Any], request: Any
) -> tuple[grpc.StatusCode, status_pb2.Status]:
    """Call a generated stub method, expect it to fail, return (code, google.rpc.Status)."""
    with pytest.raises(grpc.RpcError) as info:
        call(request, timeout=10)
    err = info.value
    status = rpc_status.from_call(err)
    assert status is not None, f"no google.rpc.Status in the trailers of {err!r}"
    return err.code(), status


def error_info(status: status_pb2.Status) -> error_details_pb2.ErrorInfo:
    for item in status.details:
        if item.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            item.Unpack(info)
            return info
    raise AssertionError(f"no ErrorInfo in {status}")


def bad_fields(status: status_pb2.Status) -> list[str]:
    fields: list[str] = []
    for item in status.details:
        if item.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            item.Unpack(bad)
            fields.extend(v.field for v in bad.field_violations)
    return fields


def assert_raw_invalid(call: Callable[..., Any], request: Any, field: str) -> status_pb2.Status:
    code, status = raw_failure(call, request)
    assert code == grpc.StatusCode.INVALID_ARGUMENT, status.message
    assert bad_fields(status) == [field], status.message
    info = error_info(status)
    assert info.domain == DOMAIN
    assert info.metadata["field"] == field
    return status


def invalid(fn: Callable[[], Any], field: str) -> modelreg.InvalidArgumentError:
    """Run a client call that must fail with INVALID_ARGUMENT naming ``field``."""
    with pytest.raises(modelreg.InvalidArgumentError) as info:
        fn()
    err = info.value
    assert err.code == grpc.StatusCode.INVALID_ARGUMENT
    assert err.field == field, err.details
    assert err.field_violations[0].description
    assert err.reason  # ErrorInfo arrived
    return err


def versions(client: modelreg.Client, project: str, model: str) -> list[int]:
    return [v.version for v in client.list_model_versions(project, model, show_deleted=True)]


def project_names(client: modelreg.Client, name: str) -> list[str]:
    return [p.name for p in client.list_projects(filter=f"name = {json.dumps(name)}")]


def register(client: modelreg.Client, project: str, model: str = "m", **kw: Any) -> int:
    kw.setdefault("artifact_uri", "s3://bucket/model.pt")
    return client.register_model_version(project, model, **kw).version


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
    (
        "dataset missing",
        {"training_data": [{"dataset": ""}]},
        "model_version.training_data[0].dataset",
    ),
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
    client: modelreg.Client, project: str, kwargs: dict[str, Any], field: str
) -> None:
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
        params={**{f"p{i}": i for i in range(999)}, "s": "x" * 4096},
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
    aclient: modelreg.AsyncClient, project: str, store: Store
) -> None:
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
    client: modelreg.Client, project: str, config: bytes
) -> None:
    register(client, project)
    status = assert_raw_invalid(
        client.stub.CreateModelVersion, _config_request(project, config), CONFIG_FIELD
    )
    assert status.message.startswith(CONFIG_FIELD)
    assert versions(client, project, "m") == [1]
    assert register(client, project) == 2


def test_config_32_deep_is_accepted(client: modelreg.Client, project: str) -> None:
    request = _config_request(project, json.dumps(nested(32)).encode())
    assert client.stub.CreateModelVersion(request, timeout=10).version == 1


def test_bad_param_and_role_messages_via_stub(client: modelreg.Client, project: str) -> None:
    base = _config_request(project, b"")
    empty_param = rpc.CreateModelVersionRequest()
    empty_param.CopyFrom(base)
    empty_param.model_version.params["lr"].CopyFrom(pb.ParamValue())
    assert_raw_invalid(client.stub.CreateModelVersion, empty_param, "model_version.params['lr']")
    bad_role = rpc.CreateModelVersionRequest()
    bad_role.CopyFrom(base)
    bad_role.model_version.training_data.add(dataset="d", role=42)
    assert_raw_invalid(
        client.stub.CreateModelVersion, bad_role, "model_version.training_data[0].role"
    )
    with pytest.raises(modelreg.NotFoundError):
        client.get_model(project, "m")


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
    data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    data["k"] = key
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def test_bad_and_foreign_page_tokens(client: modelreg.Client, project: str) -> None:
    for model in ("a", "b"):
        register(client, project, model)
        register(client, project, model)
    token = _first_page_token(client, project, "a")
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
    # Tokens are opaque, not signed: an edited key must be refused, not reach SQL.
    for key in (["one", 1], [1.5, 1], [None, None], [[1], 1], [True, 1], [2**70, 1], [1]):
        cases.append(
            rpc.ListModelVersionsRequest(parent=parent_a, page_token=_tampered(token, key))
        )
    for request in cases:
        assert_raw_invalid(client.stub.ListModelVersions, request, "page_token")
    # The genuine token still works.
    request = rpc.ListModelVersionsRequest(parent=parent_a, page_size=1, page_token=token)
    assert [v.version for v in client.stub.ListModelVersions(request).model_versions] == [2]


def test_project_token_is_refused_by_model_listing(client: modelreg.Client, project: str) -> None:
    client.create_model(project, "a")
    client.create_model(project, "b")
    listing = client.stub.ListModels(
        rpc.ListModelsRequest(parent=f"projects/{project}", page_size=1), timeout=10
    )
    other = unique("p")
    client.create_project(other)
    request = rpc.ListModelsRequest(parent=f"projects/{other}", page_token=listing.next_page_token)
    assert_raw_invalid(client.stub.ListModels, request, "page_token")


# Update masks


def test_update_with_empty_mask(client: modelreg.Client, project: str) -> None:
    register(client, project)
    invalid(lambda: client.update_project(project), "update_mask")
    invalid(lambda: client.update_model(project, "m"), "update_mask")
    invalid(lambda: client.update_model_version(project, "m", 1), "update_mask")


@pytest.mark.parametrize("path", ["name", "etag", "create_time", "params", "artifact", ""])
def test_update_mask_with_unknown_or_immutable_path(
    client: modelreg.Client, project: str, path: str
) -> None:
    v = client.register_model_version(
        project, "m", artifact_uri="s3://b/1.pt", params={"lr": 0.1}, description="d"
    )
    mask = field_mask_pb2.FieldMask(paths=["description", path])
    assert_raw_invalid(
        client.stub.UpdateProject,
        rpc.UpdateProjectRequest(
            project=pb.Project(name=f"projects/{project}", description="x"), update_mask=mask
        ),
        "update_mask",
    )
    assert_raw_invalid(
        client.stub.UpdateModelVersion,
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
    assert client.get_project(project).description == ""
    got = client.get_model_version(project, "m", 1)
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


def test_bad_resource_names(client: modelreg.Client, project: str) -> None:
    register(client, project)
    for method, request, field in _bad_names(project):
        status = assert_raw_invalid(getattr(client.stub, method), request, field)
        assert len(status.message) < 500, method  # a huge name is not echoed in full
    # Nothing above changed anything.
    assert [m.name for m in client.list_models(project)] == ["m"]
    assert versions(client, project, "m") == [1]


# The raw status on the wire


def test_invalid_argument_status_carries_error_info_and_bad_request(
    client: modelreg.Client,
) -> None:
    request = rpc.CreateProjectRequest(project_id="Bad Name")
    with pytest.raises(grpc.RpcError) as info:
        client.stub.CreateProject(request, timeout=10)
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
    client: modelreg.Client, project: str
) -> None:
    code, status = raw_failure(
        client.stub.GetModel, rpc.GetModelRequest(name=f"projects/{project}/models/nope")
    )
    assert code == grpc.StatusCode.NOT_FOUND
    info = error_info(status)
    assert (info.reason, info.domain, info.metadata["kind"]) == ("NOT_FOUND", DOMAIN, "model")
    assert bad_fields(status) == []

    p = client.get_project(project)
    client.update_project(project, description="moved on", etag=p.etag)
    code, status = raw_failure(
        client.stub.UpdateProject,
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
