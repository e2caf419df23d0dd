"""Property: no request a client can send makes the server answer INTERNAL or
UNKNOWN, and a rejected request changes no row.

Every RegistryService method is driven with requests built from its descriptor:
random field values, and values aimed at the edges (names of real resources, of
5,000-digit versions, filters with lone-surrogate escapes and times out of the
calendar, JSON with huge integers, genuine page tokens of other listings, enum
numbers nobody defined). Random bytes, and strings carrying an encoded lone
surrogate (which protobuf refuses to decode), go through a raw channel in a test
of their own. Runs are derandomized, so CI sees the same examples every time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import modelreg
from modelreg.api.v1 import registry_service_pb2 as rpc
from tests.conftest import unique
from tests.hostile import HUGE_NUMBER, TableDigest, outcome, raw_method
from tests.support import own_database_and_server, register

SERVICE = rpc.DESCRIPTOR.services_by_name["RegistryService"]
METHODS = [m.name for m in SERVICE.methods]
NEVER = (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN)
SETTINGS = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # one world per method, not per example
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
# An encoded lone surrogate (U+D800 as UTF-8 would spell it): not valid UTF-8.
ENCODED_SURROGATE = b"\xed\xa0\x80"

# Text that includes lone surrogates (category Cs), for the JSON escapes below.
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=12)
# Text protobuf will carry (it refuses to set a str with lone surrogates).
proto_text = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["", "x" * 300, "a\x00b", "\u0661", "s3://b/x.pt", 'W/"1"', " "]),
)


# This module's own database and server: the table digest reads every row, so it
# stays cheap only on a database that holds this module's data alone.
database_url, server, target = own_database_and_server()


@dataclass(frozen=True)
class World:
    """Resources the examples aim at: a project, model m with versions 1-2, alias
    prod (moved twice), and genuine page tokens of several listings."""

    project: str
    tokens: tuple[str, ...]


@pytest.fixture
def world(target: str) -> Iterator[World]:
    with modelreg.Client(target, actor="tester") as client:
        project = unique("hyp")
        client.create_project(project, labels={"team": "nlp"})
        register(client, project, "m", 3)
        client.set_alias(project, "m", "prod", 1)
        client.set_alias(project, "m", "prod", 2)
        client.set_alias(project, "m", "staging", 1)
        stub = client.stub
        parent = f"projects/{project}/models/m"
        pages = [
            stub.ListProjects(rpc.ListProjectsRequest(page_size=1)),
            stub.ListModels(rpc.ListModelsRequest(parent=f"projects/{project}", page_size=1)),
            stub.ListModelVersions(rpc.ListModelVersionsRequest(parent=parent, page_size=1)),
            stub.ListAliases(rpc.ListAliasesRequest(parent=parent, page_size=1)),
            stub.ListAliasHistory(
                rpc.ListAliasHistoryRequest(name=f"{parent}/aliases/prod", page_size=1)
            ),
        ]
        yield World(project, tuple(p.next_page_token for p in pages if p.next_page_token))


@pytest.fixture(scope="module")
def digest(database_url: str) -> Iterator[TableDigest]:
    d = TableDigest(database_url)
    yield d
    d.close()


# Strategies by field


def _ids(world: World) -> st.SearchStrategy[str]:
    return mostly(
        st.sampled_from(["prod", "m", "staging", "new_one", world.project, "latest", "n2"]),
        st.one_of(
            st.sampled_from(["", "Bad", "a" * 64, "x\x00y", "-a", "\u00e9t\u00e9"]), proto_text
        ),
    )


def _versions() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(["1", "2", "3", "99", "latest", "prod", "staging", "0", "-1", "01"]),
        st.sampled_from(["9" * 19, "9" * 20, HUGE_NUMBER, "0" * 30 + "2", "\u0661", "\u00b2"]),
        st.integers(0, 2**80).map(str),
    )


def mostly(good: st.SearchStrategy[Any], other: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``good`` four times in five (and when simplest): enough sane values for a
    call to get past its first check and reach the deeper ones."""
    return st.integers(0, 4).flatmap(lambda i: other if i == 4 else good)


def _target(world: World, method: str) -> st.SearchStrategy[str]:
    """Names of the kind ``method`` addresses (its name or parent), in ``world``."""
    project = f"projects/{world.project}"
    model = f"{project}/models/m"
    if method in ("ListModels", "CreateModel") or method.endswith("Project"):
        return st.just(project)
    if "Alias" in method and method not in ("SetAlias", "ListAliases"):
        return st.builds(f"{model}/aliases/{{}}".format, _ids(world))
    if method.endswith(("ModelVersion", "ModelVersions")) and not method.startswith(
        ("Create", "List")
    ):
        return st.builds(f"{model}/versions/{{}}".format, _versions())
    return st.just(model)


def _names(world: World) -> st.SearchStrategy[str]:
    ids = _ids(world)
    project = st.one_of(st.just(world.project), ids)
    model = st.one_of(st.just("m"), ids)
    return st.one_of(
        st.builds("projects/{}".format, project),
        st.builds("projects/{}/models/{}".format, project, model),
        st.builds("projects/{}/models/{}/versions/{}".format, project, model, _versions()),
        st.builds("projects/{}/models/{}/aliases/{}".format, project, model, ids),
        proto_text,
    )


# The filter fields of each listing (storage/*.py), and some no listing has.
FILTER_FIELDS = {
    "ListModelVersions": [
        "labels.team", "params.lr", "create_time", "version", "state", "update_time",
        "created_by", "architecture", "source_run", "artifact_format",
    ],
    "ListModels": ["labels.team", "name", "create_time", "update_time", "version_count"],
    "ListProjects": ["labels.team", "name", "create_time", "update_time"],
}  # fmt: skip
BAD_FIELDS = ["bogus", "labels.", "params", "version_count", "AND", "true"]
ORDERS = [
    "", "version", "version desc", "create_time", "create_time asc", "name",
    "update_time desc", "bogus", "version sideways", "name asc desc",
]  # fmt: skip
FILTER_OPS = ["=", "!=", "<", "<=", ">", ">=", "~", ""]  # the grammar's, then others
FILTER_VALUES = [
    '"\\ud800"', '"x\\udfff"', '"0001-01-01T00:00:00+14:00"', '"9999-12-31T23:59:59-14:00"',
    '"2024-01-01T00:00:00Z"', '"2024-01-01"', '"READY"', '"DELETED"', "true", "false",
    "1e999", "-1e999", "1e-999", "\u0661\u0662", '"\\u0000"', "9" * 1900, '"nlp"', "1.5",
]  # fmt: skip


def _filters(method: str) -> st.SearchStrategy[str]:
    value = mostly(
        st.sampled_from(FILTER_VALUES),
        st.one_of(
            st.integers(-(2**80), 2**80).map(str),
            st.floats().map(repr),
            any_text.map(json.dumps),  # ensure_ascii: surrogates arrive as \udXXX escapes
        ),
    )
    fields = FILTER_FIELDS.get(method, FILTER_FIELDS["ListModelVersions"])
    clause = st.builds(
        "{} {} {}".format,
        mostly(st.sampled_from(fields), st.sampled_from(BAD_FIELDS)),
        mostly(st.sampled_from(FILTER_OPS[:6]), st.sampled_from(FILTER_OPS)),
        value,
    )
    return mostly(st.lists(clause, min_size=1, max_size=2).map(" AND ".join), proto_text)


def _json_value() -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(),
        any_text,
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(any_text, inner, max_size=3)
        ),
        max_leaves=8,
    )


def _config_json() -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.sampled_from(
            [
                b'{"a":' + b"9" * 5000 + b"}",
                b'{"a":' + b"9" * 4000 + b"}",
                b'{"a":"' + ENCODED_SURROGATE + b'"}',
                b'{"a":"\\ud800"}',
                b'{"a":1e999}',
                b'{"a":NaN}',
                b"{}",
                b"",
                b'{"a":' * 40 + b"1" + b"}" * 40,
            ]
        ),
        st.dictionaries(any_text, _json_value(), max_size=4).map(
            lambda d: json.dumps(d, ensure_ascii=False).encode("utf-8", "surrogatepass")
        ),
        st.binary(max_size=40),
    )


def _strings(world: World, method: str) -> dict[str, st.SearchStrategy[str]]:
    names = mostly(_target(world, method), _names(world))
    ids = _ids(world)
    model = f"projects/{world.project}/models/m"
    return {
        "name": names,
        "parent": names,
        "parent_version": mostly(st.builds(f"{model}/versions/{{}}".format, _versions()), names),
        "uri": mostly(st.just("s3://b/x.pt"), proto_text),
        "project_id": ids,
        "model_id": ids,
        "alias": ids,
        "version": _versions(),
        "filter": _filters(method),
        "order_by": mostly(
            st.sampled_from(ORDERS[:6]), st.one_of(st.sampled_from(ORDERS), proto_text)
        ),
        "page_token": mostly(
            st.just(""), st.one_of(st.sampled_from(world.tokens or ("",)), proto_text)
        ),
        "request_id": mostly(
            st.sampled_from(["", "rid-1", "rid-2"]),
            st.one_of(st.sampled_from(["a" * 129, "r id"]), proto_text),
        ),
        "etag": st.one_of(st.sampled_from(['W/"1"', 'W/"2"', 'W/"99"']), proto_text),
        "paths": mostly(
            st.sampled_from(["description", "labels"]),
            st.one_of(st.sampled_from(["name", "artifact", "etag"]), proto_text),
        ),
        "sha256": st.one_of(st.just("a" * 64), proto_text),
        "key": st.one_of(st.sampled_from(["team", "lr", "a.b/c", "Bad", "x" * 130]), proto_text),
    }


_INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}


def _integers(lo: int, hi: int) -> st.SearchStrategy[int]:
    return st.one_of(st.sampled_from([0, 1, 2, -1 if lo < 0 else 3, lo, hi]), st.integers(lo, hi))


def _scalar(field: FieldDescriptor, strings: dict[str, st.SearchStrategy[str]]) -> Any:
    t = field.type
    if field.name == "page_size":
        return mostly(st.integers(0, 3), _integers(-(2**31), 2**31 - 1))
    if t == FieldDescriptor.TYPE_STRING:
        return strings.get(field.name, proto_text)
    if t == FieldDescriptor.TYPE_BYTES:
        return _config_json()
    if t == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if t in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return st.floats(width=64 if t == FieldDescriptor.TYPE_DOUBLE else 32)
    if t == FieldDescriptor.TYPE_ENUM:
        known = [v.number for v in field.enum_type.values]
        return st.one_of(st.sampled_from(known), _integers(-(2**31), 2**31 - 1))
    lo, hi = _INT_RANGES[t]
    return _integers(lo, hi)


@st.composite
def messages(
    draw: st.DrawFn,
    desc: Descriptor,
    strings: dict[str, st.SearchStrategy[str]],
    depth: int = 0,
) -> Any:
    """A message of type ``desc`` with a random subset of its fields set."""
    msg = message_factory.GetMessageClass(desc)()
    for field in desc.fields:
        if draw(st.integers(0, 3)) == 3:  # set three times in four, and when simplest
            continue
        sub = field.message_type
        if sub is not None and sub.GetOptions().map_entry:
            key_field, value_field = sub.fields_by_name["key"], sub.fields_by_name["value"]
            entries = draw(
                st.dictionaries(
                    _scalar(key_field, strings), _value(value_field, strings, depth), max_size=3
                )
            )
            target = getattr(msg, field.name)
            for k, v in entries.items():
                if value_field.message_type is not None:
                    target[k].CopyFrom(v)
                else:
                    target[k] = v
        elif field.is_repeated:
            size = (1, 2) if field.name == "paths" else (0, 3)  # an empty mask is one case
            values = draw(
                st.lists(_value(field, strings, depth), min_size=size[0], max_size=size[1])
            )
            target = getattr(msg, field.name)
            for v in values:
                if sub is not None:
                    target.add().CopyFrom(v)
                else:
                    target.append(v)
        elif sub is not None:
            if depth < 3:
                getattr(msg, field.name).CopyFrom(draw(messages(sub, strings, depth + 1)))
        else:
            setattr(msg, field.name, draw(_scalar(field, strings)))
    return msg


def _value(
    field: FieldDescriptor, strings: dict[str, st.SearchStrategy[str]], depth: int
) -> st.SearchStrategy[Any]:
    if field.message_type is not None:
        return messages(field.message_type, strings, depth + 1)
    result: st.SearchStrategy[Any] = _scalar(field, strings)
    return result


def _check(channel: grpc.Channel, digest: TableDigest, method: str, body: bytes) -> grpc.StatusCode:
    before = digest()
    code, status = outcome(raw_method(channel, method), body)
    assert code not in NEVER, f"{method} answered {code.name}: {status.message[:300]}"
    if code != grpc.StatusCode.OK:
        assert digest() == before, f"{method} was refused ({code.name}) but changed rows"
    return code


@pytest.fixture(scope="module")
def channel(target: str) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(target) as ch:
        yield ch


@pytest.mark.parametrize("method", METHODS)
@SETTINGS
@given(data=st.data())
def test_no_request_is_internal_or_unknown_and_refused_ones_write_nothing(
    channel: grpc.Channel, digest: TableDigest, world: World, method: str, data: st.DataObject
) -> None:
    request = data.draw(
        messages(SERVICE.methods_by_name[method].input_type, _strings(world, method))
    )
    _check(channel, digest, method, request.SerializeToString())


def _string_fields(method: str) -> list[int]:
    desc = SERVICE.methods_by_name[method].input_type
    return [f.number for f in desc.fields if f.type == FieldDescriptor.TYPE_STRING]


@st.composite
def _undecodable(draw: st.DrawFn, method: str) -> bytes:
    """Random bytes, or a request whose string field holds an encoded lone surrogate."""
    numbers = _string_fields(method)
    if not numbers or draw(st.booleans()):
        return draw(st.binary(max_size=64))
    number = draw(st.sampled_from(numbers))
    value = draw(st.binary(max_size=8)) + ENCODED_SURROGATE
    return bytes([number << 3 | 2, len(value)]) + value


@settings(SETTINGS, max_examples=100)
@given(call=st.sampled_from(METHODS).flatmap(lambda m: st.tuples(st.just(m), _undecodable(m))))
@example(call=("GetProject", b"\xff\xff\xff"))
def test_undecodable_bytes_are_never_internal_or_unknown(
    channel: grpc.Channel, digest: TableDigest, call: tuple[str, bytes]
) -> None:
    _check(channel, digest, *call)
