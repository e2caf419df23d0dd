"""Pure conversions between protobuf messages and domain types."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from google.protobuf.timestamp_pb2 import Timestamp

from modelreg.api.v1 import resources_pb2 as pb
from modelreg_server.domain import types as d
from modelreg_server.domain.errors import InvalidArgument
from modelreg_server.service import validation
from modelreg_server.transport import names

_ROLES = {
    pb.DATA_ROLE_UNSPECIFIED: d.DataRole.UNSPECIFIED,
    pb.DATA_ROLE_TRAIN: d.DataRole.TRAIN,
    pb.DATA_ROLE_VALIDATION: d.DataRole.VALIDATION,
    pb.DATA_ROLE_TEST: d.DataRole.TEST,
}
_ROLES_PB = {v: k for k, v in _ROLES.items()}
_STATES_PB = {
    d.VersionState.READY: pb.ModelVersion.READY,
    d.VersionState.ARCHIVED: pb.ModelVersion.ARCHIVED,
    d.VersionState.DELETED: pb.ModelVersion.DELETED,
}
_EVENT_KINDS_PB = {
    d.AliasEventKind.SET: pb.AliasEvent.SET,
    d.AliasEventKind.ROLLBACK: pb.AliasEvent.ROLLBACK,
    d.AliasEventKind.DELETE: pb.AliasEvent.DELETE,
}


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def timestamp(t: datetime) -> Timestamp:
    # Plain arithmetic: several times cheaper than Timestamp.FromDatetime on a hot path.
    delta = t - _EPOCH
    return Timestamp(seconds=delta.days * 86_400 + delta.seconds, nanos=delta.microseconds * 1_000)


def param_value(value: pb.ParamValue, field: str) -> d.ParamValue:
    kind = value.WhichOneof("kind")
    if kind is None:
        raise InvalidArgument(field, "no value set")
    result: d.ParamValue = getattr(value, kind)
    return result


def param_pb(value: d.ParamValue) -> pb.ParamValue:
    if isinstance(value, bool):
        return pb.ParamValue(bool_value=value)
    if isinstance(value, int):
        return pb.ParamValue(int_value=value)
    if isinstance(value, float):
        return pb.ParamValue(float_value=value)
    return pb.ParamValue(string_value=value)


def json_config(raw: bytes, field: str) -> dict[str, object]:
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise InvalidArgument(field, f"not valid JSON: {exc}") from exc
    validation.json_object(value, field, len(raw))
    assert isinstance(value, dict)
    return value


def new_version(msg: pb.ModelVersion, field: str = "model_version") -> d.NewModelVersion:
    parent = None
    if msg.parent_version:
        parent = names.version(msg.parent_version, f"{field}.parent_version")
    roles = []
    for i, ref in enumerate(msg.training_data):
        if ref.role not in _ROLES:
            raise InvalidArgument(f"{field}.training_data[{i}].role", f"unknown role {ref.role}")
        roles.append(
            d.DataRef(
                dataset=ref.dataset,
                version=ref.version,
                batch_id=ref.batch_id,
                role=_ROLES[ref.role],
            )
        )
    return d.NewModelVersion(
        artifact=d.Artifact(
            uri=msg.artifact.uri,
            sha256=msg.artifact.sha256,
            size_bytes=msg.artifact.size_bytes,
            format=msg.artifact.format,
        ),
        architecture=d.Architecture(
            name=msg.architecture.name,
            config=json_config(msg.architecture.config_json, f"{field}.architecture.config_json"),
        ),
        params={
            k: param_value(v, f"{field}.params[{validation.shown(k)}]")
            for k, v in msg.params.items()
        },
        training_data=tuple(roles),
        source_run=msg.source_run,
        code_version=d.CodeVersion(
            repo=msg.code_version.repo, commit=msg.code_version.commit, dirty=msg.code_version.dirty
        ),
        parent=parent,
        labels=dict(msg.labels),
        description=msg.description,
    )


def project_pb(p: d.Project) -> pb.Project:
    return pb.Project(
        name=names.project_name(p.name),
        description=p.description,
        labels=p.labels,
        create_time=timestamp(p.create_time),
        update_time=timestamp(p.update_time),
        etag=p.etag,
    )


def model_pb(m: d.Model) -> pb.Model:
    return pb.Model(
        name=names.model_name(m.project, m.name),
        description=m.description,
        labels=m.labels,
        version_count=m.version_count,
        create_time=timestamp(m.create_time),
        update_time=timestamp(m.update_time),
        etag=m.etag,
    )


def version_pb(v: d.ModelVersion) -> pb.ModelVersion:
    return pb.ModelVersion(
        name=names.version_name(v.project, v.model, v.version),
        version=v.version,
        display_name=v.display_name,
        artifact=pb.Artifact(
            uri=v.artifact.uri,
            sha256=v.artifact.sha256,
            size_bytes=v.artifact.size_bytes,
            format=v.artifact.format,
        ),
        architecture=pb.Architecture(
            name=v.architecture.name,
            config_json=json.dumps(v.architecture.config).encode()
            if v.architecture.config
            else b"",
        ),
        params={k: param_pb(x) for k, x in v.params.items()},
        training_data=[
            pb.DataRef(
                dataset=r.dataset, version=r.version, batch_id=r.batch_id, role=_ROLES_PB[r.role]
            )
            for r in v.training_data
        ],
        source_run=v.source_run,
        code_version=pb.CodeVersion(
            repo=v.code_version.repo, commit=v.code_version.commit, dirty=v.code_version.dirty
        ),
        parent_version=(
            names.version_name(v.parent.project, v.parent.model, v.parent.selector)
            if v.parent
            else ""
        ),
        labels=v.labels,
        description=v.description,
        state=_STATES_PB[v.state],
        created_by=v.created_by,
        create_time=timestamp(v.create_time),
        update_time=timestamp(v.update_time),
        etag=v.etag,
        aliases=v.aliases,
    )


def alias_pb(a: d.Alias) -> pb.Alias:
    return pb.Alias(
        name=names.alias_name(a.project, a.model, a.alias),
        alias=a.alias,
        version=a.version,
        updated_by=a.updated_by,
        update_time=timestamp(a.update_time),
        etag=a.etag,
    )


def alias_event_pb(e: d.AliasEvent) -> pb.AliasEvent:
    return pb.AliasEvent(
        alias=e.alias,
        from_version=e.from_version or 0,
        to_version=e.to_version or 0,
        actor=e.actor,
        reason=e.reason,
        event_time=timestamp(e.event_time),
        sequence=e.sequence,
        kind=_EVENT_KINDS_PB[e.kind],
    )
