"""Pure conversions between protobuf messages and the domain.

Requests become domain inputs (``NewModelVersion``); records (rows of the read
statements, see domain/types.py) fill response messages in place, field by field,
which is several times cheaper than building messages from keyword arguments.
Enums are mapped by name in both directions, and a value either side does not
know is an error, never a silent default."""

from __future__ import annotations

import enum
from datetime import datetime, timezone
from typing import Any, TypeVar

from google.protobuf.descriptor import EnumDescriptor
from google.protobuf.timestamp_pb2 import Timestamp

from modelreg.api.v1 import resources_pb2 as pb
from modelreg_server.domain import names
from modelreg_server.domain import types as d
from modelreg_server.domain.errors import InvalidArgument
from modelreg_server.service import validation
from modelreg_server.transport import names as parse

E = TypeVar("E", bound=enum.Enum)
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# asyncpg writes the calendar's first and last microsecond as -infinity and infinity,
# which read back as no datetime at all: a time the API stores lies strictly between.
FIRST_TIME = datetime.min.replace(tzinfo=timezone.utc)
LAST_TIME = datetime.max.replace(tzinfo=timezone.utc)
TIME_RANGE = "out of range (years 1 to 9999, without their first and last microsecond)"


def storable(t: datetime) -> bool:
    """Whether a time can be stored and read back (see FIRST_TIME)."""
    return FIRST_TIME < t < LAST_TIME


class EnumMap:
    """A domain enum and a proto enum, matched by member name: the proto value
    ``<prefix><NAME>`` is the domain member ``NAME``. Built once; a domain member
    without a proto value fails at import, not on some later call."""

    def __init__(self, domain: type[E], proto: EnumDescriptor, prefix: str = "") -> None:
        self.domain: type[Any] = domain
        self.proto = proto
        self.to_pb = {m: proto.values_by_name[prefix + m.name].number for m in domain}
        self.from_pb: dict[int, Any] = {n: m for m, n in self.to_pb.items()}

    def parse(self, number: int, field: str) -> Any:
        try:
            return self.from_pb[number]
        except KeyError:
            known = ", ".join(v.name for v in self.proto.values if v.number in self.from_pb)
            raise InvalidArgument(
                field, f"unknown value {number}; expected one of {known}"
            ) from None


STATES = EnumMap(d.VersionState, pb.ModelVersion.State.DESCRIPTOR)
ROLES = EnumMap(d.DataRole, pb.DataRole.DESCRIPTOR, "DATA_ROLE_")
EVENT_KINDS = EnumMap(d.AliasEventKind, pb.AliasEvent.Kind.DESCRIPTOR)
# Stored as the members' values (text columns); the messages carry numbers.
_STATE_NUMBER: dict[str, Any] = {m.value: n for m, n in STATES.to_pb.items()}
_ROLE_NUMBER: dict[str, Any] = {m.value: n for m, n in ROLES.to_pb.items()}
_KIND_NUMBER: dict[str, Any] = {m.value: n for m, n in EVENT_KINDS.to_pb.items()}


def set_time(ts: Timestamp, t: datetime) -> None:
    # Plain arithmetic: several times cheaper than Timestamp.FromDatetime on a hot path.
    delta = t - EPOCH
    ts.seconds = delta.days * 86_400 + delta.seconds
    ts.nanos = delta.microseconds * 1_000


# Requests -> domain


def param_value(value: pb.ParamValue, field: str) -> d.ParamValue:
    kind = value.WhichOneof("kind")
    if kind is None:
        raise InvalidArgument(field, "no value set")
    result: d.ParamValue = getattr(value, kind)
    return result


def data_role(number: int, field: str) -> d.DataRole:
    if number == pb.DATA_ROLE_UNSPECIFIED:  # not given: the one default
        return d.DataRole.TRAIN
    role: d.DataRole = ROLES.parse(number, field)
    return role


def data_ref(ref: pb.DataRef, field: str) -> d.DataRef:
    """A reference to a dataset version: by its resource name, or by dataset and
    version in the caller's project (both ways at once must agree)."""
    role = data_role(ref.role, f"{field}.role")
    if not ref.dataset_version:
        return d.DataRef(dataset=ref.dataset, version=ref.version, role=role)
    project, dataset, version = parse.dataset_version(
        ref.dataset_version, f"{field}.dataset_version"
    )
    if (ref.dataset and ref.dataset != dataset) or (ref.version and ref.version != version):
        raise InvalidArgument(
            field, "dataset and version disagree with dataset_version; give one or the other"
        )
    return d.DataRef(dataset=dataset, version=version, role=role, project=project)


def new_version(msg: pb.ModelVersion, field: str = "model_version") -> d.NewModelVersion:
    parent = None
    if msg.parent_version:
        parent = parse.version(msg.parent_version, f"{field}.parent_version")
    return d.NewModelVersion(
        artifact=d.Artifact(
            uri=msg.artifact.uri,
            sha256=msg.artifact.sha256,
            size_bytes=msg.artifact.size_bytes,
            format=msg.artifact.format,
        ),
        architecture=d.Architecture(
            name=msg.architecture.name,
            config_json=validation.canonical_json(
                msg.architecture.config_json, f"{field}.architecture.config_json"
            ),
        ),
        params={
            k: param_value(v, f"{field}.params[{validation.shown(k)}]")
            for k, v in msg.params.items()
        },
        training_data=tuple(
            data_ref(ref, f"{field}.training_data[{i}]") for i, ref in enumerate(msg.training_data)
        ),
        source_run=msg.source_run,
        code_version=d.CodeVersion(
            repo=msg.code_version.repo, commit=msg.code_version.commit, dirty=msg.code_version.dirty
        ),
        parent=parent,
        labels=dict(msg.labels),
        description=msg.description,
    )


# Records -> responses


def fill_project(msg: pb.Project, r: d.Project) -> pb.Project:
    msg.name = names.project_name(r["name"])
    msg.description = r["description"]
    msg.labels.update(r["labels"])
    set_time(msg.create_time, r["create_time"])
    set_time(msg.update_time, r["update_time"])
    msg.etag = names.etag(r["revision"])
    return msg


def fill_model(msg: pb.Model, r: d.Model) -> pb.Model:
    msg.name = names.model_name(r["project_name"], r["name"])
    msg.description = r["description"]
    msg.labels.update(r["labels"])
    msg.version_count = r["version_count"]
    set_time(msg.create_time, r["create_time"])
    set_time(msg.update_time, r["update_time"])
    msg.etag = names.etag(r["revision"])
    return msg


def fill_version(msg: pb.ModelVersion, r: d.ModelVersion) -> pb.ModelVersion:
    """The hot conversion (a page may hold a thousand versions): fields at their
    default are left unset rather than set to it, which is the same message."""
    model, number = r["model_name"], r["version"]
    msg.name = names.version_name(r["project_name"], model, number)
    msg.version = number
    msg.display_name = names.display_name(model, number)
    artifact = msg.artifact
    artifact.uri = r["artifact_uri"]
    if sha256 := r["artifact_sha256"]:
        artifact.sha256 = sha256
    if size := r["artifact_size"]:
        artifact.size_bytes = size
    if value := r["artifact_format"]:
        artifact.format = value
    if value := r["architecture"]:
        msg.architecture.name = value
    if value := r["architecture_config"]:
        msg.architecture.config_json = value.encode()
    fill_params(msg.params, r["param_list"])
    for item in r["data_list"]:
        fill_data_ref(msg.training_data.add(), item)
    if value := r["source_run"]:
        msg.source_run = value
    if r["code_repo"] or r["code_commit"] or r["code_dirty"]:
        code = msg.code_version
        code.repo = r["code_repo"]
        code.commit = r["code_commit"]
        code.dirty = r["code_dirty"]
    if (parent := r["parent"]) is not None:
        msg.parent_version = names.version_name(*parent)
    if labels := r["labels"]:
        msg_labels = msg.labels
        for key, value in labels.items():
            msg_labels[key] = value
    if value := r["description"]:
        msg.description = value
    msg.state = _STATE_NUMBER[r["state"]]
    msg.created_by = r["created_by"]
    set_time(msg.create_time, r["create_time"])
    set_time(msg.update_time, r["update_time"])
    msg.etag = names.etag(r["revision"])
    if aliases := r["alias_names"]:
        msg.aliases.extend(aliases)
    return msg


def fill_params(params: Any, param_list: list[list[str]]) -> None:
    """A params map from a read copy: [key, kind, exact text] per param."""
    for key, kind, text in param_list:
        param = params[key]
        if kind == "float":
            param.float_value = float(text)
        elif kind == "int":
            param.int_value = int(text)
        elif kind == "bool":
            param.bool_value = text == "true"
        else:
            param.string_value = text


def fill_data_ref(ref: pb.DataRef, item: list[str]) -> None:
    """One element of a read copy: [dataset, version, batch_id, role, dataset version
    name]. Stored responses recorded before schema 0004 lack the name."""
    ref.dataset = item[0]
    ref.version = item[1]
    ref.batch_id = item[2]
    ref.role = _ROLE_NUMBER[item[3]]
    if len(item) > 4:
        ref.dataset_version = item[4]


def fill_alias(msg: pb.Alias, r: d.Alias) -> pb.Alias:
    msg.name = names.alias_name(r["project_name"], r["model_name"], r["alias"])
    msg.alias = r["alias"]
    msg.version = r["version"]
    msg.updated_by = r["updated_by"]
    set_time(msg.update_time, r["update_time"])
    msg.etag = names.etag(r["revision"])
    return msg


def fill_alias_event(msg: pb.AliasEvent, r: d.AliasEvent) -> pb.AliasEvent:
    msg.alias = r["alias"]
    msg.from_version = r["from_version"] or 0
    msg.to_version = r["to_version"] or 0
    msg.actor = r["actor"]
    msg.reason = r["reason"]
    set_time(msg.event_time, r["event_time"])
    msg.sequence = r["id"]
    msg.kind = _KIND_NUMBER[r["kind"]]
    return msg
