"""Pure conversions between wire messages and the SDK's dataclasses.

Enums are mapped by name through the proto enum descriptors (``ModelVersion.State.READY``
<-> ``VersionState.READY``, ``DATA_ROLE_TEST`` <-> ``DataRole.TEST``), so the two cannot
drift apart silently: a number this SDK does not know raises ``ValueError``.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from operator import attrgetter
from typing import Any, Generic, TypeVar

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.timestamp_pb2 import Timestamp

from modelreg._deployment_types import (
    Deployment,
    DeploymentEvent,
    DeploymentEventKind,
    DeploymentState,
)
from modelreg._tracking_types import (
    ComparedMetric,
    ComparedParam,
    Dataset,
    DatasetVersion,
    Evaluation,
    Goal,
    Metric,
    RankedVersion,
    Run,
    RunOutput,
    RunState,
    VersionComparison,
)
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
    lazy_constructor,
)
from modelreg.api.v1 import resources_pb2 as pb
from modelreg.api.v1 import tracking_service_pb2 as tracking

E = TypeVar("E", bound=enum.Enum)


class EnumMap(Generic[E]):
    """One proto enum field <-> one SDK enum, value name to member name.

    ``prefix`` is stripped from the proto names (``DATA_ROLE_``). The ``*_UNSPECIFIED``
    value maps to nothing, unless ``unspecified`` gives its documented meaning.
    """

    def __init__(
        self,
        field: FieldDescriptor,
        sdk: type[E],
        *,
        prefix: str = "",
        unspecified: E | None = None,
    ) -> None:
        if field.containing_type is None or field.enum_type is None:
            raise TypeError(f"{field.full_name} is not an enum field of a message")
        self.field = field
        self.where = f"{field.containing_type.full_name}.{field.name}"
        self.from_pb: dict[int, E] = {}
        self.to_pb: dict[E, int] = {}
        for value in field.enum_type.values:
            name = value.name.removeprefix(prefix)
            if name in sdk.__members__ and not value.name.endswith("_UNSPECIFIED"):
                self.from_pb[value.number] = sdk[name]
                self.to_pb[sdk[name]] = value.number
        if unspecified is not None:
            self.from_pb[0] = unspecified

    def decode(self, number: int) -> E:
        try:
            return self.from_pb[number]
        except KeyError:
            raise ValueError(
                f"{self.where} = {number} is unknown to this SDK; upgrade modelreg"
            ) from None

    def encode(self, member: E) -> int:
        return self.to_pb[member]


# DATA_ROLE_UNSPECIFIED means "not set", which is recorded as TRAIN.
ROLE = EnumMap(
    pb.DataRef.DESCRIPTOR.fields_by_name["role"],
    DataRole,
    prefix="DATA_ROLE_",
    unspecified=DataRole.TRAIN,
)
STATE = EnumMap(pb.ModelVersion.DESCRIPTOR.fields_by_name["state"], VersionState)
KIND = EnumMap(pb.AliasEvent.DESCRIPTOR.fields_by_name["kind"], AliasEventKind)
RUN_STATE = EnumMap(pb.Run.DESCRIPTOR.fields_by_name["state"], RunState)
GOAL = EnumMap(
    tracking.RankModelVersionsRequest.DESCRIPTOR.fields_by_name["goal"], Goal, prefix="GOAL_"
)
DEPLOYMENT_STATE = EnumMap(pb.Deployment.DESCRIPTOR.fields_by_name["state"], DeploymentState)
DEPLOYMENT_EVENT_KIND = EnumMap(
    pb.DeploymentEvent.DESCRIPTOR.fields_by_name["kind"], DeploymentEventKind
)
DEPLOYMENT_EVENT_STATE = EnumMap(
    pb.DeploymentEvent.DESCRIPTOR.fields_by_name["state"], DeploymentState
)

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def time(ts: Timestamp) -> datetime:
    return _EPOCH + timedelta(seconds=ts.seconds, microseconds=ts.nanos // 1_000)


def optional_time(msg: Any, field: str) -> datetime | None:
    """The time in ``msg.field``, None when the field is unset."""
    return time(getattr(msg, field)) if msg.HasField(field) else None


def time_to_pb(when: datetime) -> Timestamp:
    """A timezone-aware datetime on the wire (naive ones are refused: their zone is a guess)."""
    if when.tzinfo is None:
        raise ValueError(f"{when!r} is naive: give a timezone-aware datetime (e.g. UTC)")
    ts = Timestamp()
    ts.FromDatetime(when)
    return ts


def json_object(raw: bytes) -> dict[str, Any] | None:
    value: dict[str, Any] | None = json.loads(raw) if raw else None
    return value


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
        role=pb.DataRole.ValueType(ROLE.encode(DataRole(ref.role))),
        dataset_version=ref.dataset_version,
    )


def data_ref(msg: pb.DataRef) -> DataRef:
    return DataRef(
        dataset=msg.dataset,
        version=msg.version,
        batch_id=msg.batch_id,
        role=ROLE.decode(msg.role),
        dataset_version=msg.dataset_version,
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


def _config(msg: pb.ModelVersion) -> dict[str, Any]:
    raw = msg.architecture.config_json
    config: dict[str, Any] = json.loads(raw) if raw else {}
    return config


# One converter per ModelVersion field, run the first time that field is read.
MODEL_VERSION_FIELDS: dict[str, Callable[[pb.ModelVersion], Any]] = {
    "project": lambda m: segments(m.name)[0],
    "model": lambda m: segments(m.name)[1],
    "version": attrgetter("version"),
    "display_name": attrgetter("display_name"),
    "artifact": lambda m: Artifact(
        uri=m.artifact.uri,
        sha256=m.artifact.sha256,
        size_bytes=m.artifact.size_bytes,
        format=m.artifact.format,
    ),
    "architecture": attrgetter("architecture.name"),
    "architecture_config": _config,
    "params": lambda m: {k: param(v) for k, v in m.params.items()},
    "training_data": lambda m: tuple(map(data_ref, m.training_data)),
    "source_run": attrgetter("source_run"),
    "code_version": lambda m: CodeVersion(
        repo=m.code_version.repo, commit=m.code_version.commit, dirty=m.code_version.dirty
    ),
    "parent_version": attrgetter("parent_version"),
    "labels": lambda m: dict(m.labels),
    "description": attrgetter("description"),
    "state": lambda m: STATE.decode(m.state),
    "created_by": attrgetter("created_by"),
    "create_time": lambda m: time(m.create_time),
    "update_time": lambda m: time(m.update_time),
    "etag": attrgetter("etag"),
    "aliases": lambda m: tuple(m.aliases),
}

# model_version(msg): a ModelVersion holding ``msg``, each field converted on first read.
model_version: Callable[[pb.ModelVersion], ModelVersion] = lazy_constructor(
    ModelVersion, MODEL_VERSION_FIELDS
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
        kind=KIND.decode(msg.kind),
        from_version=msg.from_version or None,
        to_version=msg.to_version or None,
        actor=msg.actor,
        reason=msg.reason,
        event_time=time(msg.event_time),
        sequence=msg.sequence,
    )


# Deployments


def traffic(splits: Any) -> dict[int, int]:
    """A split's messages -> ``{version: percent}``, by version."""
    return {t.version: t.percent for t in sorted(splits, key=attrgetter("version"))}


def deployment(msg: pb.Deployment) -> Deployment:
    return Deployment(
        project=segments(msg.name)[0],
        deployment_id=msg.deployment_id,
        model=msg.model.rpartition("/")[2],
        environment=msg.environment,
        traffic=traffic(msg.traffic),
        state=DEPLOYMENT_STATE.decode(msg.state),
        description=msg.description,
        labels=dict(msg.labels),
        created_by=msg.created_by,
        create_time=time(msg.create_time),
        updated_by=msg.updated_by,
        update_time=time(msg.update_time),
        etag=msg.etag,
    )


def deployment_event(msg: pb.DeploymentEvent) -> DeploymentEvent:
    return DeploymentEvent(
        kind=DEPLOYMENT_EVENT_KIND.decode(msg.kind),
        traffic=traffic(msg.traffic),
        state=DEPLOYMENT_EVENT_STATE.decode(msg.state),
        environment=msg.environment,
        actor=msg.actor,
        reason=msg.reason,
        event_time=time(msg.event_time),
        sequence=msg.sequence,
    )


# Experiment tracking


def dataset(msg: pb.Dataset) -> Dataset:
    p, d = segments(msg.name)
    return Dataset(
        project=p,
        name=d,
        version_count=msg.version_count,
        create_time=time(msg.create_time),
        update_time=time(msg.update_time),
    )


def dataset_version(msg: pb.DatasetVersion) -> DatasetVersion:
    return DatasetVersion(
        project=segments(msg.name)[0],
        dataset=msg.dataset,
        version=msg.version,
        uri=msg.uri,
        digest=msg.digest,
        row_count=msg.row_count if msg.HasField("row_count") else None,
        schema=json_object(msg.schema_json),
        description=msg.description,
        split=msg.split,
        batch_id=msg.batch_id,
        data_start_time=optional_time(msg, "data_start_time"),
        data_end_time=optional_time(msg, "data_end_time"),
        parents=tuple(msg.parents),
        labels=dict(msg.labels),
        created_by=msg.created_by,
        create_time=time(msg.create_time),
    )


def metric(msg: pb.Metric) -> Metric:
    return Metric(key=msg.key, value=msg.value, step=msg.step, time=time(msg.time))


def run_output(msg: pb.RunOutput) -> RunOutput:
    return RunOutput(msg.model_version, msg.display_name, msg.artifact_uri)


# One converter per Run field, run the first time that field is read (a listed run
# whose metrics nobody reads costs no conversion of them).
RUN_FIELDS: dict[str, Callable[[pb.Run], Any]] = {
    "project": lambda m: segments(m.name)[0],
    "run_id": attrgetter("run_id"),
    "experiment": attrgetter("experiment"),
    "state": lambda m: RUN_STATE.decode(m.state),
    "start_time": lambda m: time(m.start_time),
    "end_time": lambda m: optional_time(m, "end_time"),
    "params": lambda m: {k: param(v) for k, v in m.params.items()},
    "inputs": lambda m: tuple(map(data_ref, m.inputs)),
    "code_version": lambda m: CodeVersion(
        repo=m.code_version.repo, commit=m.code_version.commit, dirty=m.code_version.dirty
    ),
    "labels": lambda m: dict(m.labels),
    "latest_metrics": lambda m: {k: metric(v) for k, v in sorted(m.latest_metrics.items())},
    "outputs": lambda m: tuple(map(run_output, m.outputs)),
    "description": attrgetter("description"),
    "created_by": attrgetter("created_by"),
    "update_time": lambda m: time(m.update_time),
    "etag": attrgetter("etag"),
}

run: Callable[[pb.Run], Run] = lazy_constructor(Run, RUN_FIELDS)


def evaluation(msg: pb.Evaluation) -> Evaluation:
    p, m, v, e = segments(msg.name)
    return Evaluation(
        project=p,
        model=m,
        version=int(v),
        evaluation_id=e,
        dataset_version=msg.dataset_version,
        slice=msg.slice,
        metrics=dict(msg.metrics),
        run=msg.run,
        labels=dict(msg.labels),
        created_by=msg.created_by,
        create_time=time(msg.create_time),
    )


def _maybe_param(value: pb.ParamValue) -> ParamValue | None:
    return param(value) if value.WhichOneof("kind") else None


def comparison(msg: tracking.CompareModelVersionsResponse) -> VersionComparison:
    return VersionComparison(
        versions=tuple(map(model_version, msg.model_versions)),
        params=tuple(
            ComparedParam(key=p.key, values=tuple(map(_maybe_param, p.values)), differs=p.differs)
            for p in msg.params
        ),
        metrics=tuple(
            ComparedMetric(
                dataset_version=m.dataset_version,
                slice=m.slice,
                metric=m.metric,
                values=tuple(c.value if c.HasField("value") else None for c in m.values),
                evaluations=tuple(c.evaluation for c in m.values),
            )
            for m in msg.metrics
        ),
    )


def ranked_version(msg: tracking.RankedModelVersion) -> RankedVersion:
    return RankedVersion(
        rank=msg.rank,
        score=msg.score,
        evaluation=msg.evaluation,
        version=model_version(msg.model_version),
    )
