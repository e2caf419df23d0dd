"""Pure conversions between wire messages and the SDK's dataclasses."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone

from google.protobuf.timestamp_pb2 import Timestamp

from modelreg._types import (
    Alias,
    AliasEvent,
    AliasEventKind,
    Artifact,
    CodeVersion,
    DataRef,
    DataRole,
    Model,
    ModelVersion,
    ParamValue,
    Project,
    VersionState,
)
from modelreg.api.v1 import resources_pb2 as pb

_ROLE_TO_PB = {
    DataRole.UNSPECIFIED: pb.DATA_ROLE_UNSPECIFIED,
    DataRole.TRAIN: pb.DATA_ROLE_TRAIN,
    DataRole.VALIDATION: pb.DATA_ROLE_VALIDATION,
    DataRole.TEST: pb.DATA_ROLE_TEST,
}
_ROLE_FROM_PB = {v: k for k, v in _ROLE_TO_PB.items()}
_STATE_FROM_PB = {
    pb.ModelVersion.READY: VersionState.READY,
    pb.ModelVersion.ARCHIVED: VersionState.ARCHIVED,
    pb.ModelVersion.DELETED: VersionState.DELETED,
}
_KIND_FROM_PB = {
    pb.AliasEvent.SET: AliasEventKind.SET,
    pb.AliasEvent.ROLLBACK: AliasEventKind.ROLLBACK,
    pb.AliasEvent.DELETE: AliasEventKind.DELETE,
}


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def time(ts: Timestamp) -> datetime:
    return _EPOCH + timedelta(seconds=ts.seconds, microseconds=ts.nanos // 1_000)


def segments(name: str) -> list[str]:
    return name.split("/")[1::2]


def param_to_pb(key: str, value: ParamValue) -> pb.ParamValue:
    if isinstance(value, bool):
        return pb.ParamValue(bool_value=value)
    if isinstance(value, int):
        return pb.ParamValue(int_value=value)
    if isinstance(value, float):
        return pb.ParamValue(float_value=value)
    if isinstance(value, str):
        return pb.ParamValue(string_value=value)
    raise TypeError(f"param {key!r}: expected bool, int, float or str, got {type(value).__name__}")


def param(value: pb.ParamValue) -> ParamValue:
    kind = value.WhichOneof("kind")
    result: ParamValue = getattr(value, kind) if kind else ""
    return result


def data_ref_to_pb(ref: DataRef | Mapping[str, str]) -> pb.DataRef:
    if not isinstance(ref, DataRef):
        ref = DataRef(**ref)  # type: ignore[arg-type]
    return pb.DataRef(
        dataset=ref.dataset,
        version=ref.version,
        batch_id=ref.batch_id,
        role=_ROLE_TO_PB[DataRole(ref.role)],
    )


def project(msg: pb.Project) -> Project:
    return Project(
        name=segments(msg.name)[0],
        description=msg.description,
        labels=dict(msg.labels),
        create_time=time(msg.create_time),
        update_time=time(msg.update_time),
        etag=msg.etag,
    )


def model(msg: pb.Model) -> Model:
    p, m = segments(msg.name)
    return Model(
        project=p,
        name=m,
        description=msg.description,
        labels=dict(msg.labels),
        version_count=msg.version_count,
        create_time=time(msg.create_time),
        update_time=time(msg.update_time),
        etag=msg.etag,
    )


def model_version(msg: pb.ModelVersion) -> ModelVersion:
    p, m, _ = segments(msg.name)
    config = json.loads(msg.architecture.config_json) if msg.architecture.config_json else {}
    return ModelVersion(
        project=p,
        model=m,
        version=msg.version,
        display_name=msg.display_name,
        artifact=Artifact(
            uri=msg.artifact.uri,
            sha256=msg.artifact.sha256,
            size_bytes=msg.artifact.size_bytes,
            format=msg.artifact.format,
        ),
        architecture=msg.architecture.name,
        architecture_config=config,
        params={k: param(v) for k, v in msg.params.items()},
        training_data=tuple(
            DataRef(
                dataset=r.dataset,
                version=r.version,
                batch_id=r.batch_id,
                role=_ROLE_FROM_PB.get(r.role, DataRole.UNSPECIFIED),
            )
            for r in msg.training_data
        ),
        source_run=msg.source_run,
        code_version=CodeVersion(
            repo=msg.code_version.repo, commit=msg.code_version.commit, dirty=msg.code_version.dirty
        ),
        parent_version=msg.parent_version,
        labels=dict(msg.labels),
        description=msg.description,
        state=_STATE_FROM_PB.get(msg.state, VersionState.READY),
        created_by=msg.created_by,
        create_time=time(msg.create_time),
        update_time=time(msg.update_time),
        etag=msg.etag,
        aliases=tuple(msg.aliases),
    )


def alias(msg: pb.Alias) -> Alias:
    p, m, _ = segments(msg.name)
    return Alias(
        project=p,
        model=m,
        alias=msg.alias,
        version=msg.version,
        updated_by=msg.updated_by,
        update_time=time(msg.update_time),
        etag=msg.etag,
    )


def alias_event(msg: pb.AliasEvent) -> AliasEvent:
    return AliasEvent(
        alias=msg.alias,
        kind=_KIND_FROM_PB.get(msg.kind, AliasEventKind.SET),
        from_version=msg.from_version or None,
        to_version=msg.to_version or None,
        actor=msg.actor,
        reason=msg.reason,
        event_time=time(msg.event_time),
        sequence=msg.sequence,
    )
