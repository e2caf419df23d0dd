"""Property: with auth on and a valid key, no request of any service of the service
table makes the server answer INTERNAL or UNKNOWN, none outlives its deadline,
and a refused one changes no row; SQL metacharacters in every string field of the
writes are stored verbatim or refused with INVALID_ARGUMENT naming a field.

The world is the lineage property test's (a project with resources of every
kind), made through a server without auth on this module's own database; the
calls go to a second server on that database with auth on, with a key of the
project's admin role (a server admin key for the methods only such a key may
call). Requests are built from the method descriptors by the generic builder of
test_properties_e2e.py, their names mostly aimed at real resources of the kind
the method addresses, their other strings mostly SQL metacharacters. Derandomized.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2, message_factory
from google.protobuf.descriptor import FieldDescriptor, MethodDescriptor
from google.rpc import status_pb2
from grpc_status import rpc_status
from hypothesis import given, settings
from hypothesis import strategies as st

from modelreg.api.v1 import production_service_pb2 as prpc
from modelreg.api.v1 import registry_service_pb2 as rrpc
from modelreg.api.v1 import resources_pb2 as pb
from modelreg.api.v1 import tracking_service_pb2 as trpc
from modelreg_server import app, permissions
from modelreg_server.domain.access import Role
from modelreg_server.testing import ServerThread
from tests.auth_support import auth_server, bearer, make_key
from tests.bad_input import bad_fields
from tests.hostile import TableDigest
from tests.inference_support import hour_ago, ts
from tests.support import own_database_and_server, sql
from tests.test_lineage_properties_e2e import METACHARACTERS, World, _string_paths, world
from tests.test_properties_e2e import NEVER, SETTINGS, messages, mostly, proto_text

__all__ = ["world"]  # the lineage property test's fixture, used here as it is

database_url, server, target = own_database_and_server()

TABLE = app.services(None)  # type: ignore[arg-type]
RULES = {
    (entry.descriptor.full_name, name): rule
    for entry in TABLE
    for name, rule in entry.permissions.items()
}
# Destructive methods last, so the world stays whole for the others as long as can be.
METHODS: list[MethodDescriptor] = sorted(
    (m for entry in TABLE for m in entry.descriptor.methods),
    key=lambda m: (m.name.startswith(("Delete", "Archive", "Revoke", "End")), m.full_name),
)
DEADLINE_S = 20.0
AUTH_SETTINGS = settings(SETTINGS, max_examples=25)

# SQL's metacharacters and LIKE's wildcards, NUL (protobuf strings carry it;
# PostgreSQL text cannot), and text made of them.
META_CHARS = ["'", '"', ";", "-", "%", "_", "\\", "\x00", "/", "*", " ", "a", "Z"]
meta_text = st.one_of(
    st.sampled_from([*METACHARACTERS, "\x00", "a\x00b", "%%", "__", "\\'", "' OR '1'='1", "$1"]),
    st.text(st.sampled_from(META_CHARS), min_size=1, max_size=16),
)

# The kinds of resource a method addresses, by the words of its name.
KINDS = {
    "Project": ["project"],
    "Model": ["model", "project"],
    "Version": ["v1", "v2", "v3", "alias", "latest", "model"],
    "Alias": ["aliases", "model"],
    "Evaluation": ["eval", "v3"],
    "Dataset": ["dataset", "b05", "holdout", "project"],
    "Run": ["run", "project"],
    "Metric": ["run", "model", "prod"],
    "Pipeline": ["pipeline", "pipelines", "prun", "project"],
    "Step": ["prun", "step"],
    "Deployment": ["prod", "project", "model"],
    "Traffic": ["prod"],
    "Inference": ["project", "model"],
    "Feedback": ["project"],
    "Production": ["model", "prod", "window", "model_window"],
    "Batch": ["project", "b05", "v3"],
    "Trained": ["project"],
    "Lineage": ["v3", "b05", "run", "prod", "window", "eval"],
    "Key": ["project"],
}


class _Strings(dict[str, st.SearchStrategy[str]]):
    """Strategies by field name; any other string field gets metacharacters."""

    def get(self, key: str, default: Any = None) -> st.SearchStrategy[str]:  # type: ignore[override]
        return super().get(key, st.one_of(meta_text, proto_text))


def _names(world: World) -> dict[str, str]:
    return {**world.names, "aliases": f"{world['model']}/aliases/production"}


def _strings(world: World, method: str) -> _Strings:
    names = _names(world)
    kinds = sorted({k for word, ks in KINDS.items() if word in method for k in ks}) or sorted(names)
    every = st.sampled_from(sorted(names.values()))
    aimed = mostly(
        st.sampled_from([names[k] for k in kinds]),
        st.one_of(every, st.builds(str.__add__, every, meta_text), meta_text),
    )
    plain = st.one_of(meta_text, proto_text)
    return _Strings(
        name=aimed,
        parent=aimed,
        resource=aimed,
        run=aimed,
        model=mostly(st.sampled_from([names["model"], "m"]), plain),
        dataset_version=mostly(st.sampled_from([names["b05"], names["holdout"]]), plain),
        request_id=mostly(st.sampled_from(["", "rid-1", "rid-2"]), plain),
        page_token=mostly(st.just(""), plain),
        filter=mostly(st.just(""), plain),
        order_by=mostly(st.just(""), plain),
        etag=plain,
    )


@pytest.fixture(scope="module")
def secured(database_url: str, world: World) -> Iterator[ServerThread]:
    """A server with auth on, on the database the world was made in."""
    with auth_server(database_url) as srv:
        yield srv


@pytest.fixture(scope="module")
def tokens(database_url: str, world: World) -> dict[bool, str]:
    """Keys by whether the method needs a server admin."""
    return {
        False: make_key(database_url, world.project, Role.ADMIN),
        True: make_key(database_url, None, Role.SERVER_ADMIN),
    }


@pytest.fixture(scope="module")
def channel(secured: ServerThread) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(secured.target) as ch:
        yield ch


@pytest.fixture(scope="module")
def digest(database_url: str, world: World) -> Iterator[TableDigest]:
    d = TableDigest(database_url)
    yield d
    d.close()


def _token(tokens: dict[bool, str], method: MethodDescriptor) -> str:
    """The server admin key for what only it may do but delete (the world's
    project would go, and its keys with it); the project admin key otherwise."""
    rule = RULES.get((method.containing_service.full_name, method.name))
    server = rule is not None and rule.permission is permissions.SERVER
    return tokens[server and not method.name.startswith(("Delete", "Revoke"))]


def call(
    channel: grpc.Channel, method: MethodDescriptor, body: bytes, token: str
) -> tuple[grpc.StatusCode, status_pb2.Status, list[bytes]]:
    """One raw call of any kind (a stream sends ``body`` as its one message):
    (code, google.rpc.Status, response bodies); never raises RpcError."""
    path = f"/{method.containing_service.full_name}/{method.name}"
    kw: dict[str, Any] = {"timeout": DEADLINE_S, "metadata": bearer(token)}
    try:
        if method.client_streaming and method.server_streaming:
            out = list(channel.stream_stream(path)(iter([body]), **kw))
        elif method.server_streaming:
            out = list(channel.unary_stream(path)(body, **kw))
        elif method.client_streaming:
            out = [channel.stream_unary(path)(iter([body]), **kw)]
        else:
            out = [channel.unary_unary(path)(body, **kw)]
    except grpc.RpcError as err:
        status = rpc_status.from_call(err)
        if status is None:
            status = status_pb2.Status(code=err.code().value[0], message=err.details() or "")
        return err.code(), status, []
    return grpc.StatusCode.OK, status_pb2.Status(), out


# SQL metacharacters, field by field, on requests that succeed as they are.

_unique = (f"q{n}" for n in itertools.count())


def _write_requests(world: World) -> dict[str, Callable[[], Any]]:
    """A sane request of each write, by method (a new one each time)."""
    p, model = world["project"], world["model"]
    one_param = {"p": pb.ParamValue(string_value="v")}
    code = pb.CodeVersion(repo="git@x:y.git", commit="abc")

    def uid() -> str:
        return next(_unique)

    return {
        "CreateProject": lambda: rrpc.CreateProjectRequest(
            project_id=uid(), project=pb.Project(description="d", labels={"k": "v"})
        ),
        "UpdateProject": lambda: rrpc.UpdateProjectRequest(
            project=pb.Project(name=p, description="d", labels={"k": "v"}),
            update_mask=field_mask_pb2.FieldMask(paths=["description", "labels"]),
        ),
        "CreateModel": lambda: rrpc.CreateModelRequest(
            parent=p, model_id=uid(), model=pb.Model(description="d", labels={"k": "v"})
        ),
        "CreateModelVersion": lambda: rrpc.CreateModelVersionRequest(
            parent=model,
            model_version=pb.ModelVersion(
                artifact=pb.Artifact(uri="s3://m/x", format="pt"),
                architecture=pb.Architecture(name="arch"),
                params=one_param,
                code_version=code,
                description="d",
                labels={"k": "v"},
            ),
        ),
        "SetAlias": lambda: rrpc.SetAliasRequest(
            parent=model, alias=uid(), version="1", reason="r"
        ),
        "CreateRun": lambda: trpc.CreateRunRequest(
            parent=p,
            run=pb.Run(
                experiment="e",
                params=one_param,
                code_version=code,
                description="d",
                labels={"k": "v"},
            ),
        ),
        "CreateDatasetVersion": lambda: trpc.CreateDatasetVersionRequest(
            parent=world["dataset"],
            dataset_version=pb.DatasetVersion(
                uri="s3://d/x", description="d", batch_id=uid(), labels={"k": "v"}
            ),
        ),
        "CreateEvaluation": lambda: trpc.CreateEvaluationRequest(
            parent=world["v3"],
            evaluation=pb.Evaluation(
                dataset_version=world["holdout"],
                metrics={"acc": 0.5},
                slice="s",
                labels={"k": "v"},
            ),
        ),
        "CreateDeployment": lambda: prpc.CreateDeploymentRequest(
            parent=p,
            deployment_id=uid(),
            deployment=pb.Deployment(
                model=model,
                environment="env",
                traffic=[pb.TrafficSplit(version=3, percent=100)],
                description="d",
                labels={"k": "v"},
            ),
        ),
        "WriteInferenceRecordBatch": lambda: prpc.WriteInferenceRecordBatchRequest(
            parent=p,
            writer_id="w",
            records=[
                pb.InferenceRecord(
                    record_id=str(uuid.uuid4()),
                    model="m",
                    version=3,
                    event_time=_recent(),
                    request_id="r",
                    predicted_label="l",
                    attributes={"k": "v"},
                )
            ],
        ),
    }


def _recent() -> Any:
    return ts(hour_ago())


# Fields the server sets or derives (resources.proto: "Output only") or does not
# keep as sent: ignored on input, so never found stored.
NOT_STORED = {
    "request_id",
    "etag",
    "paths",
    "name",
    "display_name",
    "created_by",
    "dataset",
    "pipeline",
    "writer_id",
}


def _write_cases() -> list[tuple[str, tuple[str, ...]]]:
    services = {e.descriptor.name: e.descriptor for e in TABLE}
    by_name = {m.name: m for d in services.values() for m in d.methods}
    names = [
        "CreateProject",
        "UpdateProject",
        "CreateModel",
        "CreateModelVersion",
        "SetAlias",
        "CreateRun",
        "CreateDatasetVersion",
        "CreateEvaluation",
        "CreateDeployment",
        "WriteInferenceRecordBatch",
    ]
    return [(n, path) for n in names for path in _string_paths(by_name[n].input_type)]


WRITES = _write_cases()
# Output-only fields of the resources sent (resources.proto), ignored on input.
OUTPUT_ONLY = {
    ("model_version", "aliases"),
    ("run", "latest_metrics"),
    ("run", "outputs"),
    ("deployment", "updated_by"),
    ("records", "feedback"),
    ("run", "run_id"),
    ("dataset_version", "version"),
    ("deployment", "deployment_id"),
}


def _set(msg: Any, path: tuple[str, ...], text: str) -> None:
    """Put ``text`` at ``path`` in ``msg``: a map entry is made (a message value
    left empty but a ParamValue's string), a repeated field's first element set."""
    head, rest = path[0], path[1:]
    field = msg.DESCRIPTOR.fields_by_name[head]
    container = getattr(msg, head)
    if not rest:
        if field.is_repeated and len(container):
            container[0] = text
        elif field.is_repeated:
            container.append(text)
        else:
            setattr(msg, head, text)
    elif rest[0] == "<key>":
        value = field.message_type.fields_by_name["value"]
        if value.type == FieldDescriptor.TYPE_STRING:
            container[text] = "v"
        elif value.message_type is None:
            container[text] = 1
        elif value.message_type.name == "ParamValue":
            container[text].string_value = "v"
        else:
            container[text].SetInParent()
    elif rest[0] == "<value>":
        if len(rest) == 1:
            container["k"] = text
        else:
            _set(container["k"], rest[1:], text)
    elif field.is_repeated:
        _set(container[0] if len(container) else container.add(), rest, text)
    else:
        _set(container, rest, text)


def _stored(database_url: str, text: str) -> bool:
    """Whether some row holds ``text`` as a whole string (a column, or a key or
    value of a JSON column), as JSON spells it."""
    needle = json.dumps(text, ensure_ascii=False)
    tables = [e["name"] for e in sql(database_url, _TABLES)]
    query = " UNION ALL ".join(
        f"SELECT EXISTS (SELECT 1 FROM {t} x WHERE strpos(to_jsonb(x)::text, $1) > 0)"
        for t in tables
    )
    return any(r[0] for r in sql(database_url, query, needle))


_TABLES = (
    "SELECT quote_ident(table_name) AS name FROM information_schema.tables "
    "WHERE table_schema = 'public' AND table_type = 'BASE TABLE' "
    "AND table_name NOT LIKE 'inference_records_%'"
)


def _refusals(method: MethodDescriptor, path: tuple[str, ...]) -> set[grpc.StatusCode]:
    """How a metacharacter at ``path`` may be refused: INVALID_ARGUMENT; for a
    name the permission table reads a project from (or a reference it checks)
    also PERMISSION_DENIED (it is in no project the key may use, decided before
    anything else); for an etag ABORTED (stale)."""
    rule = RULES[(method.containing_service.full_name, method.name)]
    dotted = ".".join(p for p in path if not p.startswith("<"))
    if dotted in {(f or "").replace("[]", "") for f in (rule.field, *rule.refs)}:
        return {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.PERMISSION_DENIED}
    if path[-1] == "etag":
        return {grpc.StatusCode.ABORTED}
    return {grpc.StatusCode.INVALID_ARGUMENT}


@pytest.mark.parametrize(("method", "path"), WRITES, ids=[f"{m}:{'.'.join(p)}" for m, p in WRITES])
def test_sql_metacharacters_in_every_string_field_are_stored_verbatim_or_refused(
    channel: grpc.Channel,
    digest: TableDigest,
    database_url: str,
    world: World,
    tokens: dict[bool, str],
    method: str,
    path: tuple[str, ...],
) -> None:
    desc = next(m for m in METHODS if m.name == method)
    response_class = message_factory.GetMessageClass(desc.output_type)
    build = _write_requests(world)[method]
    for meta in [*METACHARACTERS, "\x00"]:
        text = f"{meta}{next(_unique)}"  # unique: found only where this call put it
        request = build()
        _set(request, path, text)
        before = digest()
        code, status, out = call(channel, desc, request.SerializeToString(), _token(tokens, desc))
        where = (".".join(path), text)
        if code != grpc.StatusCode.OK:
            assert code in _refusals(desc, path), (*where, code, status.message)
            if code == grpc.StatusCode.INVALID_ARGUMENT:
                assert bad_fields(status), (*where, status.message)
            assert digest() == before, where
            continue
        if method == "WriteInferenceRecordBatch":
            ack = response_class.FromString(out[0])
            if ack.errors:  # the record refused by itself, the call answered
                (error,) = ack.errors
                assert error.field.startswith("records[0]"), (*where, error)
                assert digest() == before, where
                continue
        if (
            path[-1] in NOT_STORED
            or path[:2] in OUTPUT_ONLY
            or (path[-1] == "<key>" and "\x00" in text)
        ):
            continue
        assert "\x00" not in text, (*where, "PostgreSQL text cannot hold NUL: stored how?")
        assert _stored(database_url, text), (*where, "accepted but not stored verbatim")


# Every request of every method (after the writes above: some of these delete).


@pytest.mark.parametrize("method", METHODS, ids=[m.full_name.rpartition(".")[2] for m in METHODS])
@AUTH_SETTINGS
@given(data=st.data())
def test_no_authenticated_request_is_internal_hangs_or_writes_when_refused(
    channel: grpc.Channel,
    digest: TableDigest,
    world: World,
    tokens: dict[bool, str],
    method: MethodDescriptor,
    data: st.DataObject,
) -> None:
    request = data.draw(messages(method.input_type, _strings(world, method.name)))
    before = digest()
    code, status, _ = call(channel, method, request.SerializeToString(), _token(tokens, method))
    assert code not in NEVER, f"{method.name} answered {code.name}: {status.message[:300]}"
    assert code != grpc.StatusCode.DEADLINE_EXCEEDED, f"{method.name} hung"
    assert code not in (grpc.StatusCode.UNAUTHENTICATED,), status.message
    if code != grpc.StatusCode.OK:
        assert digest() == before, f"{method.name} was refused ({code.name}) but changed rows"


@pytest.mark.parametrize("method", ["ListInferenceRecords", "GetProductionMetrics"])
@pytest.mark.parametrize("bound", ["start_time", "end_time"])
def test_a_time_bound_protobuf_cannot_convert_is_invalid_argument(
    channel: grpc.Channel, world: World, tokens: dict[bool, str], method: str, bound: str
) -> None:
    """Found by the property above: nanos out of 0..999,999,999 answered INTERNAL."""
    desc = next(m for m in METHODS if m.name == method)
    request = message_factory.GetMessageClass(desc.input_type)(parent=world["model"])
    getattr(request, bound).nanos = -1
    code, status, _ = call(channel, desc, request.SerializeToString(), _token(tokens, desc))
    assert code == grpc.StatusCode.INVALID_ARGUMENT, status.message
    assert bad_fields(status) == [bound]
