"""The SDK's dataclasses and enums mirror the wire messages, and cannot drift from them
unnoticed: every proto field has its SDK field (the few deliberate differences are listed
below), no field is dropped on the way (sentinel messages), and enums map by name."""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

import modelreg
from modelreg import _convert
from modelreg import _inference_convert as _ic
from modelreg import _key_convert as _kc
from modelreg import _lineage_convert as _lc
from modelreg import _pipeline_convert as _pc
from modelreg.api.v1 import access_service_pb2 as access
from modelreg.api.v1 import lineage_service_pb2 as lineage
from modelreg.api.v1 import resources_pb2 as pb
from modelreg.api.v1 import tracking_service_pb2 as tracking
from tests.sentinels import sentinel

RESOURCES: list[tuple[type[Message], type[Any], Callable[[Any], Any]]] = [
    (pb.Project, modelreg.Project, _convert.project),
    (pb.Model, modelreg.Model, _convert.model),
    (pb.ModelVersion, modelreg.ModelVersion, _convert.model_version),
    (pb.Alias, modelreg.Alias, _convert.alias),
    (pb.AliasEvent, modelreg.AliasEvent, _convert.alias_event),
    (pb.Dataset, modelreg.Dataset, _convert.dataset),
    (pb.DatasetVersion, modelreg.DatasetVersion, _convert.dataset_version),
    (pb.Run, modelreg.Run, _convert.run),
    (pb.Evaluation, modelreg.Evaluation, _convert.evaluation),
    (pb.Deployment, modelreg.Deployment, _convert.deployment),
    (pb.DeploymentEvent, modelreg.DeploymentEvent, _convert.deployment_event),
    (pb.Batch, modelreg.Batch, _lc.batch),
    (pb.LineageNode, modelreg.LineageNode, _lc.lineage_node),
    (pb.LineageEdge, modelreg.LineageEdge, _lc.lineage_edge),
    (lineage.TrainedVersion, modelreg.TrainedVersion, _lc.trained_version),
    (lineage.BatchBehind, modelreg.BatchBehind, _lc.batch_behind),
    (lineage.BatchMetricPoint, modelreg.BatchMetricPoint, _lc.batch_metric_point),
    (pb.PipelineRun, modelreg.PipelineRun, _pc.pipeline_run),
    (pb.Pipeline, modelreg.Pipeline, _pc.pipeline),
    (access.ApiKey, modelreg.ApiKey, _kc.api_key),
]
# Resources with a oneof: a sentinel sets one member of each, so the others read as defaults
# (tested below, member by member, instead of by the sentinel tests).
ONEOF_RESOURCES: list[tuple[type[Message], type[Any], Callable[[Any], Any]]] = [
    (pb.InferenceRecord, modelreg.InferenceRecord, _ic.inference_record),
    (pb.Feedback, modelreg.Feedback, _ic.feedback),
]
# Messages the SDK mirrors field for field, as parts of the resources.
PARTS: list[tuple[type[Message], type[Any]]] = [
    (pb.Artifact, modelreg.Artifact),
    (pb.CodeVersion, modelreg.CodeVersion),
    (pb.DataRef, modelreg.DataRef),
    (pb.Metric, modelreg.Metric),
    (pb.RunOutput, modelreg.RunOutput),
    (pb.ResourceRef, modelreg.ResourceRef),
    (pb.PipelineStep, modelreg.PipelineStep),
]

# Proto field -> the SDK fields it becomes, where they differ on purpose. Every other proto
# field has an SDK field of the same name, and the SDK has no field beyond these.
DIFFERENCES: dict[str, dict[str, tuple[str, ...]]] = {
    # Project.name keeps its name but holds the last segment: "p", not "projects/p".
    "Project": {},
    # The resource name is split into its segments.
    "Model": {"name": ("project", "name")},
    # The name's last segment repeats `version`, a field of its own.
    # Architecture{name, config_json} is flattened; config_json is parsed into a dict.
    "ModelVersion": {
        "name": ("project", "model"),
        "architecture": ("architecture", "architecture_config"),
    },
    # The name's last segment repeats `alias`, a field of its own.
    "Alias": {"name": ("project", "model")},
    "AliasEvent": {},
    "Dataset": {"name": ("project", "name")},
    # The name's last segments repeat `dataset` and `version`; the schema is parsed JSON.
    "DatasetVersion": {"name": ("project",), "schema_json": ("schema",)},
    # The name's last segment repeats `run_id`.
    "Run": {"name": ("project",)},
    "Evaluation": {"name": ("project", "model", "version", "evaluation_id")},
    # The name's last segment repeats `deployment_id`; `model` keeps the model id only.
    "Deployment": {"name": ("project",)},
    "DeploymentEvent": {},
    "Batch": {},
    "LineageNode": {},
    "LineageEdge": {},
    "TrainedVersion": {},
    "BatchBehind": {},
    "BatchMetricPoint": {},
    # The name's last segments repeat `pipeline` and `run_id`.
    "PipelineRun": {"name": ("project",)},
    "Pipeline": {"name": ("project", "name")},
    # Field for field; `project` is None for a server admin key.
    "ApiKey": {},
    # The oneof of a label or a number is one field, a str or a float.
    "InferenceRecord": {"predicted_value": ("prediction",), "predicted_label": ()},
    "Feedback": {"true_value": ("ground_truth",), "true_label": ()},
}


def sdk_fields(cls: type[Any]) -> list[str]:
    return sorted(f.name for f in dataclasses.fields(cls))


@pytest.mark.parametrize(
    ("message", "cls"),
    [(m, c) for m, c, _ in RESOURCES + ONEOF_RESOURCES],
    ids=lambda x: x.__name__,
)
def test_every_proto_field_has_its_sdk_field(message: type[Message], cls: type[Any]) -> None:
    renamed = DIFFERENCES[message.__name__]
    expected = sorted(
        sdk for f in message.DESCRIPTOR.fields for sdk in renamed.get(f.name, (f.name,))
    )
    assert sdk_fields(cls) == expected
    assert set(renamed) <= set(message.DESCRIPTOR.fields_by_name)  # the table is not stale


@pytest.mark.parametrize(("message", "cls"), PARTS, ids=lambda x: x.__name__)
def test_parts_mirror_their_messages(message: type[Message], cls: type[Any]) -> None:
    assert sdk_fields(cls) == sorted(f.name for f in message.DESCRIPTOR.fields)


def test_every_resource_is_mirrored() -> None:
    # (RESOURCES also holds results of LineageService's batch queries, not resources.)
    mirrored = {
        m.DESCRIPTOR.name
        for m, _, _ in RESOURCES + ONEOF_RESOURCES
        if m.DESCRIPTOR.file is pb.DESCRIPTOR
    } | {m.DESCRIPTOR.name for m, _ in PARTS}
    # Architecture is flattened into ModelVersion; ParamValue is a plain Python value;
    # a deployment's TrafficSplit messages are its `traffic` dict (version -> percent).
    flattened = {"Architecture", "ParamValue", "TrafficSplit"}
    assert set(pb.DESCRIPTOR.message_types_by_name) == mirrored | flattened


EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def defaults_in(value: Any, path: str = "") -> list[str]:
    """Paths of the SDK fields in ``value`` that hold a default or empty value."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        found = []
        for f in dataclasses.fields(value):
            item = getattr(value, f.name)
            if f.default is not dataclasses.MISSING and item == f.default:
                found.append(f"{path}{f.name} (the field's default)")
            found += defaults_in(item, f"{path}{f.name}.")
        return found
    if value in ("", 0, None, EPOCH, (), {}):
        return [path.rstrip(".")]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in defaults_in(v, f"{path}{k}.")]
    if isinstance(value, tuple):
        return [p for i, v in enumerate(value) for p in defaults_in(v, f"{path}{i}.")]
    return []


@pytest.mark.parametrize(("message", "cls", "convert"), RESOURCES, ids=lambda x: x.__name__)
def test_a_sentinel_message_converts_to_no_default_field(
    message: type[Message], cls: type[Any], convert: Callable[[Any], Any]
) -> None:
    converted = convert(sentinel(message))
    assert type(converted) is cls
    assert defaults_in(converted) == []


Step = tuple[str, Any]  # ("field", name) | ("index", i) | ("key", k)


def leaves(msg: Message, path: tuple[Step, ...] = ()) -> Iterator[tuple[Step, ...]]:
    """The path of every set scalar in ``msg``: fields, list items, map keys and values."""
    for field, value in msg.ListFields():
        here = (*path, ("field", field.name))
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value_is_message = field.message_type.fields_by_name["value"].message_type
            for key in value:
                yield (*here, ("key", key))
                if value_is_message:
                    yield from leaves(value[key], (*here, ("value", key)))
                else:
                    yield (*here, ("value", key))
        elif field.is_repeated:
            for i, item in enumerate(value):
                if field.message_type is not None:
                    yield from leaves(item, (*here, ("index", i)))
                else:
                    yield (*here, ("index", i))
        elif field.message_type is not None:
            yield from leaves(value, here)
        else:
            yield here


# The segments of a resource name that the SDK reads; the last one repeats a field of its
# own (ModelVersion.version, Alias.alias), which is what the SDK reads instead.
SEGMENTS = ("p_sentinel", "m_sentinel", "d_sentinel")


def changed(value: Any, where: str, segment: str = "") -> Any:
    if isinstance(value, bool):
        return not value
    if segment:
        return value.replace(segment, segment.replace("sentinel", "changed"))
    if where in ("config_json", "schema_json"):
        return json.dumps({"changed": 1}).encode()
    if where == "nanos":
        return value + 1_000  # a microsecond: datetimes have no finer precision
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, bytes):
        return value + b"x"
    return value + 1  # ints (enums: the previous value is non-zero too, see below), floats


def mutate(msg: Message, path: tuple[Step, ...], segment: str = "") -> None:
    """Change the one scalar at ``path`` to another valid, distinct value (for a resource
    name: one of its segments)."""
    *parents, (kind, last) = path
    container: Any = msg
    for step_kind, step in parents:
        container = getattr(container, step) if step_kind == "field" else container[step]
    if kind == "field":
        field = container.DESCRIPTOR.fields_by_name[last]
        if field.enum_type is not None:
            setattr(container, last, getattr(container, last) - 1)  # the sentinel is the last
        else:
            setattr(container, last, changed(getattr(container, last), last, segment))
    elif kind == "key":
        old = container[last]
        new_key = f"{last}_changed"
        if isinstance(old, Message):
            container[new_key].CopyFrom(old)
        else:
            container[new_key] = old
        del container[last]
    else:  # "index" of a repeated scalar, or "value" of a scalar map
        container[last] = changed(container[last], "")


@pytest.mark.parametrize(("message", "cls", "convert"), RESOURCES, ids=lambda x: x.__name__)
def test_changing_any_leaf_of_the_message_changes_the_sdk_object(
    message: type[Message], cls: type[Any], convert: Callable[[Any], Any]
) -> None:
    original = sentinel(message)
    before = convert(original)
    paths = list(leaves(original))
    assert len(paths) >= len(message.DESCRIPTOR.fields)
    unchanged = []
    for path in paths:
        value = path_value(original, path)
        segments = [s for s in SEGMENTS if isinstance(value, str) and s in value] or [""]
        for segment in segments:
            copy = message()
            copy.CopyFrom(original)
            mutate(copy, path, segment)
            assert copy != original, path
            if convert(copy) == before:
                unchanged.append((path, segment))
    assert unchanged == []


@pytest.mark.parametrize(("message", "cls", "convert"), ONEOF_RESOURCES, ids=lambda x: x.__name__)
def test_every_oneof_member_reaches_the_sdk_object(
    message: type[Message], cls: type[Any], convert: Callable[[Any], Any]
) -> None:
    base = sentinel(message)
    seen = []
    for oneof in message.DESCRIPTOR.oneofs:
        for field in oneof.fields:
            copy = message()
            copy.CopyFrom(base)
            value: Any = "label_sentinel" if field.type == FieldDescriptor.TYPE_STRING else 4.5
            setattr(copy, field.name, value)
            converted = convert(copy)
            assert type(converted) is cls
            seen.append(converted)
            # ...and every other leaf still reaches it too.
            for path in leaves(copy):
                changed_copy = message()
                changed_copy.CopyFrom(copy)
                mutate(changed_copy, path)
                assert convert(changed_copy) != converted, path
    assert (
        len(seen)
        == len({repr(s) for s in seen})
        == sum(len(o.fields) for o in message.DESCRIPTOR.oneofs)
    )


def path_value(msg: Message, path: tuple[Step, ...]) -> Any:
    value: Any = msg
    for kind, step in path:
        value = getattr(value, step) if kind == "field" else value[step]
    return value


def test_sentinel_covers_every_kind_of_leaf() -> None:
    paths = {tuple(s for k, s in p if k == "field") for p in leaves(sentinel(pb.ModelVersion))}
    for expected in [
        ("name",),
        ("artifact", "size_bytes"),
        ("architecture", "config_json"),
        ("create_time", "nanos"),
        ("training_data", "role"),
        ("code_version", "dirty"),
        ("state",),
        ("aliases",),
    ]:
        assert expected in paths, expected
    params = sentinel(pb.ModelVersion).params  # type: ignore[attr-defined]
    assert sorted(v.WhichOneof("kind") for v in params.values()) == [
        "bool_value",
        "float_value",
        "int_value",
        "string_value",
    ]


# Enums, by name

ENUM_MAPS: list[tuple[_convert.EnumMap[Any], str]] = [
    (_convert.ROLE, "DATA_ROLE_"),
    (_convert.STATE, ""),
    (_convert.KIND, ""),
    (_convert.RUN_STATE, ""),
    (_convert.GOAL, "GOAL_"),
    (_convert.DEPLOYMENT_STATE, ""),
    (_convert.DEPLOYMENT_EVENT_KIND, ""),
    (_convert.DEPLOYMENT_EVENT_STATE, ""),
    (_lc.NODE_KIND, "RESOURCE_KIND_"),
    (_lc.EDGE_KIND, "LINEAGE_EDGE_KIND_"),
    (_lc.DIRECTION, "LINEAGE_DIRECTION_"),
    (_pc.RESOURCE_KIND, "RESOURCE_KIND_"),
    (_pc.PIPELINE_STEP_STATE, ""),
    (_pc.PIPELINE_RUN_STATE, ""),
]
# The modules that hold the SDK's enum maps.
CONVERTERS = (_convert, _lc, _pc)


def enum_fields(module: Any) -> Iterator[FieldDescriptor]:
    for message in module.DESCRIPTOR.message_types_by_name.values():
        for field in message.fields:
            if field.enum_type is not None:
                yield field


def test_every_enum_field_of_the_api_has_a_map() -> None:
    maps = {
        m.where: m
        for module in CONVERTERS
        for m in vars(module).values()
        if isinstance(m, _convert.EnumMap)
    }
    assert set(maps) == {m.where for m, _ in ENUM_MAPS}
    # Every enum field of a resource has its own map...
    assert {f"{f.containing_type.full_name}.{f.name}" for f in enum_fields(pb)} <= set(maps)
    # ...and every enum type a request uses has one (EndRunRequest.state is a Run.State).
    used = {
        f.enum_type.full_name
        for f in [*enum_fields(pb), *enum_fields(tracking), *enum_fields(lineage)]
    }
    assert used == {m.field.enum_type.full_name for m in maps.values()}


@pytest.mark.parametrize(("codec", "prefix"), ENUM_MAPS, ids=lambda x: getattr(x, "where", x))
def test_every_proto_enum_value_maps_by_name_and_back(
    codec: _convert.EnumMap[Any], prefix: str
) -> None:
    sdk_members: set[enum.Enum] = set()
    for value in codec.field.enum_type.values:
        if value.name.endswith("_UNSPECIFIED"):
            continue
        member = codec.decode(value.number)
        assert member.name == value.name.removeprefix(prefix)
        assert codec.encode(member) == value.number
        sdk_members.add(member)
    # ...and the SDK has no member without a proto value.
    assert sdk_members == set(type(next(iter(sdk_members))))


@pytest.mark.parametrize(("codec", "prefix"), ENUM_MAPS, ids=lambda x: getattr(x, "where", x))
def test_an_unknown_enum_number_raises_naming_message_field_and_number(
    codec: _convert.EnumMap[Any], prefix: str
) -> None:
    with pytest.raises(ValueError, match="unknown to this SDK; upgrade modelreg") as info:
        codec.decode(99)
    assert f"{codec.where} = 99" in str(info.value)
    assert codec.where.startswith("modelreg.api.v1.")


def test_unspecified_role_means_train_and_other_unspecified_values_raise() -> None:
    assert _convert.ROLE.decode(pb.DATA_ROLE_UNSPECIFIED) is modelreg.DataRole.TRAIN
    assert _convert.ROLE.encode(modelreg.DataRole.TRAIN) == pb.DATA_ROLE_TRAIN
    assert "UNSPECIFIED" not in modelreg.DataRole.__members__
    assert modelreg.DataRef("d").role is modelreg.DataRole.TRAIN
    with pytest.raises(ValueError, match=r"modelreg\.api\.v1\.ModelVersion\.state = 0"):
        _convert.STATE.decode(pb.ModelVersion.STATE_UNSPECIFIED)
    with pytest.raises(ValueError, match=r"modelreg\.api\.v1\.AliasEvent\.kind = 0"):
        _convert.KIND.decode(pb.AliasEvent.KIND_UNSPECIFIED)


def test_unknown_values_in_messages_raise_when_read() -> None:
    version = sentinel(pb.ModelVersion)
    version.state = 42  # type: ignore[attr-defined]
    version.training_data[0].role = 17  # type: ignore[attr-defined]
    converted = _convert.model_version(version)  # lazy: fields convert when read
    with pytest.raises(ValueError, match=r"ModelVersion\.state = 42 is unknown"):
        converted.state  # noqa: B018
    with pytest.raises(ValueError, match=r"DataRef\.role = 17 is unknown"):
        converted.training_data  # noqa: B018
    assert converted.project == "p_sentinel"
    event = sentinel(pb.AliasEvent)
    event.kind = 9  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match=r"AliasEvent\.kind = 9 is unknown"):
        _convert.alias_event(event)


def test_sdk_roles_go_on_the_wire_by_name() -> None:
    for role in modelreg.DataRole:
        ref = _convert.data_ref_to_pb(modelreg.DataRef("d", role=role))
        assert pb.DataRole.Name(ref.role) == f"DATA_ROLE_{role.name}"
    assert _convert.data_ref_to_pb({"dataset": "d"}).role == pb.DATA_ROLE_TRAIN
    assert _convert.data_ref_to_pb({"dataset": "d", "role": "TEST"}).role == pb.DATA_ROLE_TEST
    with pytest.raises(ValueError):
        _convert.data_ref_to_pb({"dataset": "d", "role": "UNSPECIFIED"})
