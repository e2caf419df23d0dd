"""Pure conversions of TrackingService's messages, as convert.py does for the
registry's (whose shared pieces, enums, times, params and data references, this
module uses): requests become domain inputs; records fill responses in place."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from modelreg.api.v1 import resources_pb2 as pb
from modelreg.api.v1 import tracking_service_pb2 as ts
from modelreg_server.domain import datasets as ds
from modelreg_server.domain import names
from modelreg_server.domain import runs as dr
from modelreg_server.domain import types as d
from modelreg_server.domain.errors import InvalidArgument
from modelreg_server.service import validation
from modelreg_server.transport import names as parse
from modelreg_server.transport.convert import (
    EPOCH,
    TIME_RANGE,
    EnumMap,
    data_ref,
    fill_data_ref,
    fill_params,
    fill_version,
    param_value,
    set_time,
    storable,
)

# Runs

RUN_STATES = EnumMap(dr.RunState, pb.Run.State.DESCRIPTOR)
_RUN_STATE_NUMBER: dict[str, Any] = {m.value: n for m, n in RUN_STATES.to_pb.items()}


def new_run(msg: pb.Run, field: str = "run") -> dr.NewRun:
    return dr.NewRun(
        experiment=msg.experiment,
        params={
            k: param_value(v, f"{field}.params[{validation.shown(k)}]")
            for k, v in msg.params.items()
        },
        inputs=tuple(data_ref(ref, f"{field}.inputs[{i}]") for i, ref in enumerate(msg.inputs)),
        code_version=d.CodeVersion(
            repo=msg.code_version.repo, commit=msg.code_version.commit, dirty=msg.code_version.dirty
        ),
        labels=dict(msg.labels),
        description=msg.description,
    )


def metric_points(metrics: Iterable[pb.Metric], now: datetime) -> list[dr.Point]:
    """The points of a LogRunData request, at a few hundred nanoseconds each: the
    fields read once, times converted by arithmetic and shared between the points
    that carry the same one (a logging call stamps all its metrics alike). A time
    left unset (the epoch itself) is ``now``."""
    times: dict[tuple[int, int], datetime] = {(0, 0): now}
    points: list[dr.Point] = []
    add = points.append
    get = times.get
    try:
        for m in metrics:
            ts = m.time
            when = (ts.seconds, ts.nanos)
            t = get(when)
            if t is None:
                t = times[when] = EPOCH + timedelta(seconds=when[0], microseconds=when[1] // 1000)
                if not storable(t):
                    raise OverflowError
            add((m.key, m.step, m.value, t))
    except OverflowError:
        raise InvalidArgument(f"metrics[{len(points)}].time", TIME_RANGE) from None
    return points


def run_data(request: Any, now: datetime) -> dr.RunData:
    """The points and params of a LogRunDataRequest or an EndRunRequest as the
    domain takes them. With a request_id, the request's digest stands in for its
    payload (see ``RunData.fingerprint``)."""
    fingerprint = ""
    if request.request_id:
        fingerprint = hashlib.sha256(request.SerializeToString(deterministic=True)).hexdigest()
    return dr.RunData(
        points=metric_points(request.metrics, now),
        params={
            k: param_value(v, f"params[{validation.shown(k)}]") for k, v in request.params.items()
        },
        fingerprint=fingerprint,
    )


def _set_micros(ts: Timestamp, micros: int) -> None:
    seconds, rest = divmod(micros, 1_000_000)
    ts.seconds = seconds
    ts.nanos = rest * 1_000


def fill_run(msg: pb.Run, r: dr.Run) -> pb.Run:
    project, run = r["project_name"], r["name"]
    msg.name = names.run_name(project, run)
    msg.run_id = run
    if value := r["experiment"]:
        msg.experiment = value
    msg.state = _RUN_STATE_NUMBER[r["state"]]
    set_time(msg.start_time, r["start_time"])
    if (end := r["end_time"]) is not None:
        set_time(msg.end_time, end)
    fill_params(msg.params, r["param_list"])
    for item in r["input_list"]:
        fill_data_ref(msg.inputs.add(), item)
    if r["code_repo"] or r["code_commit"] or r["code_dirty"]:
        code = msg.code_version
        code.repo = r["code_repo"]
        code.commit = r["code_commit"]
        code.dirty = r["code_dirty"]
    if labels := r["labels"]:
        msg.labels.update(labels)
    latest = msg.latest_metrics
    for key, (exact, step, micros) in r["latest_metrics"].items():
        point = latest[key]
        point.key = key
        point.value = float(exact)
        point.step = int(step)
        _set_micros(point.time, int(micros))
    for project_, model, number, uri in r["outputs"]:
        out = msg.outputs.add()
        out.model_version = names.version_name(str(project_), str(model), number)
        out.display_name = names.display_name(str(model), int(number))
        out.artifact_uri = str(uri)
    if value := r["description"]:
        msg.description = value
    msg.created_by = r["created_by"]
    set_time(msg.update_time, r["update_time"])
    msg.etag = names.etag(r["revision"])
    return msg


def fill_metric(msg: pb.Metric, r: dr.MetricPoint) -> pb.Metric:
    msg.key = r["key"]
    msg.value = r["value"]
    msg.step = r["step"]
    set_time(msg.time, r["time"])
    return msg


# Datasets, evaluations, comparing and ranking


def _time(ts: Timestamp, field: str) -> datetime:
    try:
        t = ts.ToDatetime(tzinfo=timezone.utc)
    except (ValueError, OverflowError) as exc:
        raise InvalidArgument(field, "not a valid timestamp") from exc
    if not storable(t):
        raise InvalidArgument(field, TIME_RANGE)
    return t


def dataset_version_ref(name: str, field: str) -> ds.DatasetVersionRef:
    return ds.DatasetVersionRef(*parse.dataset_version(name, field))


def new_dataset_version(
    msg: pb.DatasetVersion, field: str = "dataset_version"
) -> ds.NewDatasetVersion:
    return ds.NewDatasetVersion(
        uri=msg.uri,
        digest=msg.digest,
        row_count=msg.row_count if msg.HasField("row_count") else None,
        schema_json=validation.canonical_json(msg.schema_json, f"{field}.schema_json"),
        description=msg.description,
        split=msg.split,
        batch_id=msg.batch_id,
        data_start_time=_time(msg.data_start_time, f"{field}.data_start_time")
        if msg.HasField("data_start_time")
        else None,
        data_end_time=_time(msg.data_end_time, f"{field}.data_end_time")
        if msg.HasField("data_end_time")
        else None,
        parents=tuple(
            dataset_version_ref(p, f"{field}.parents[{i}]") for i, p in enumerate(msg.parents)
        ),
        labels=dict(msg.labels),
    )


def new_evaluation(msg: pb.Evaluation, field: str = "evaluation") -> ds.NewEvaluation:
    if not msg.dataset_version:
        raise InvalidArgument(f"{field}.dataset_version", "required")
    return ds.NewEvaluation(
        dataset_version=dataset_version_ref(msg.dataset_version, f"{field}.dataset_version"),
        slice=msg.slice,
        metrics=dict(msg.metrics),
        run=ds.RunRef(*parse.run(msg.run, f"{field}.run")) if msg.run else None,
        labels=dict(msg.labels),
    )


def fill_dataset(msg: pb.Dataset, r: ds.Dataset) -> pb.Dataset:
    msg.name = names.dataset_name(r["project_name"], r["name"])
    msg.version_count = r["version_count"]
    set_time(msg.create_time, r["create_time"])
    set_time(msg.update_time, r["update_time"])
    return msg


def fill_dataset_version(msg: pb.DatasetVersion, r: ds.DatasetVersion) -> pb.DatasetVersion:
    dataset, version = r["dataset_name"], r["version"]
    msg.name = names.dataset_version_name(r["project_name"], dataset, version)
    msg.dataset = dataset
    msg.version = version
    msg.uri = r["uri"]
    msg.digest = r["digest"]
    if (rows := r["row_count"]) is not None:
        msg.row_count = rows
    if value := r["schema_json"]:
        msg.schema_json = value.encode()
    msg.description = r["description"]
    msg.split = r["split"]
    msg.batch_id = r["batch_id"]
    if (start := r["data_start_time"]) is not None:
        set_time(msg.data_start_time, start)
    if (end := r["data_end_time"]) is not None:
        set_time(msg.data_end_time, end)
    msg.parents.extend(r["parent_list"])
    msg.labels.update(r["labels"])
    msg.created_by = r["created_by"]
    set_time(msg.create_time, r["create_time"])
    return msg


def fill_evaluation(msg: pb.Evaluation, r: ds.Evaluation) -> pb.Evaluation:
    msg.name = names.evaluation_name(
        r["project_name"], r["model_name"], r["version"], r["evaluation_id"]
    )
    msg.dataset_version = r["dataset_version_name"]
    msg.slice = r["slice"]
    msg.metrics.update(r["metrics"])
    if (run := r["run_name"]) is not None:
        msg.run = run
    msg.labels.update(r["labels"])
    msg.created_by = r["created_by"]
    set_time(msg.create_time, r["create_time"])
    return msg


def fill_ranked(
    msg: ts.RankedModelVersion, r: ds.RankedVersion, rank: int
) -> ts.RankedModelVersion:
    msg.rank = rank
    msg.score = r["score"]
    msg.evaluation = names.evaluation_name(
        r["project_name"], r["model_name"], r["version"], r["evaluation"]
    )
    fill_version(msg.model_version, r)
    return msg


def _param(msg: pb.ParamValue, value: tuple[str, str] | None) -> None:
    if value is None:
        return
    kind, text = value
    if kind == "float":
        msg.float_value = float(text)
    elif kind == "int":
        msg.int_value = int(text)
    elif kind == "bool":
        msg.bool_value = text == "true"
    else:
        msg.string_value = text


def fill_comparison(
    msg: ts.CompareModelVersionsResponse, c: ds.Comparison
) -> ts.CompareModelVersionsResponse:
    for v in c.versions:
        fill_version(msg.model_versions.add(), v)
    for p in c.params:
        param = msg.params.add(key=p.key, differs=p.differs)
        for value in p.values:
            _param(param.values.add(), value)
    for m in c.metrics:
        metric = msg.metrics.add(dataset_version=m.dataset_version, slice=m.slice, metric=m.metric)
        for cell in m.cells:
            if cell is None:
                metric.values.add()
            else:
                metric.values.add(value=cell.value, evaluation=cell.evaluation)
    return msg
