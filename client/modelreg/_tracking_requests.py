"""Request builders of experiment tracking, shared by Client and AsyncClient. Like
``_requests``, each mutation gets its request_id here, once per logical call."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from modelreg import _convert
from modelreg._requests import data_ref, mask, name_of, new_request_id, project_name
from modelreg._tracking_types import DataInput, Goal, Metric, Named, RunState
from modelreg._types import CodeVersion, ParamValue
from modelreg.api.v1 import resources_pb2 as pb
from modelreg.api.v1 import tracking_service_pb2 as tracking

# A buffered metric point: key, value, step, time in nanoseconds since the epoch.
Point = tuple[str, float, int, int]
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_NS = 1_000_000_000
# The points of one request take at most this many bytes on the wire: the server refuses
# tracking requests over 4 MiB (MODELREG_MAX_REQUEST_BYTES_TRACKING); params get the rest.
MAX_POINT_BYTES = 3 * 1024 * 1024
# A point's size bound beyond its key: field tags and lengths, value, step, time.
_POINT_OVERHEAD = 40


def dataset_name(project: str, dataset: str) -> str:
    return f"projects/{project}/datasets/{dataset}"


def run_name(project: str, run_id: str) -> str:
    return f"projects/{project}/runs/{run_id}"


def nanoseconds(when: datetime) -> int:
    """A timezone-aware datetime as nanoseconds since the epoch."""
    if when.tzinfo is None:
        raise ValueError(f"{when!r} is naive: give a timezone-aware datetime (e.g. UTC)")
    return (when - _EPOCH) // timedelta(microseconds=1) * 1_000


def params_to_pb(params: Mapping[str, ParamValue] | None) -> dict[str, pb.ParamValue]:
    return {k: _convert.param_to_pb(k, v) for k, v in (params or {}).items()}


def goal(value: Goal | str) -> tracking.Goal.ValueType:
    return tracking.Goal.ValueType(_convert.GOAL.encode(Goal(value)))


def run_state(value: RunState | str) -> pb.Run.State.ValueType:
    state = value if isinstance(value, RunState) else RunState(value.upper())
    return pb.Run.State.ValueType(_convert.RUN_STATE.encode(state))


def create_dataset_version(
    project: str,
    dataset: str,
    *,
    uri: str,
    version: str,
    digest: str,
    row_count: int | None,
    schema: Mapping[str, Any] | None,
    description: str,
    split: str,
    batch_id: str,
    data_start_time: datetime | None,
    data_end_time: datetime | None,
    parents: Iterable[Named | str],
    labels: Mapping[str, str] | None,
    request_id: str | None,
) -> tracking.CreateDatasetVersionRequest:
    message = pb.DatasetVersion(
        uri=uri,
        digest=digest,
        row_count=row_count,
        schema_json=b"" if schema is None else json.dumps(schema).encode(),
        description=description,
        split=split,
        batch_id=batch_id,
        parents=[name_of(p, "parents") for p in parents],
        labels=labels or {},
    )
    if data_start_time is not None:
        message.data_start_time.CopyFrom(_convert.time_to_pb(data_start_time))
    if data_end_time is not None:
        message.data_end_time.CopyFrom(_convert.time_to_pb(data_end_time))
    return tracking.CreateDatasetVersionRequest(
        parent=dataset_name(project, dataset),
        version_id=version,
        dataset_version=message,
        request_id=request_id or new_request_id(),
    )


def create_run(
    project: str,
    *,
    run_id: str,
    experiment: str,
    params: Mapping[str, ParamValue] | None,
    inputs: Iterable[DataInput],
    code_version: CodeVersion | None,
    labels: Mapping[str, str] | None,
    description: str,
    request_id: str | None,
) -> tracking.CreateRunRequest:
    code = code_version or CodeVersion()
    return tracking.CreateRunRequest(
        parent=project_name(project),
        run_id=run_id,
        run=pb.Run(
            experiment=experiment,
            params=params_to_pb(params),
            inputs=[_convert.data_ref_to_pb(data_ref(i)) for i in inputs],
            code_version=pb.CodeVersion(repo=code.repo, commit=code.commit, dirty=code.dirty),
            labels=labels or {},
            description=description,
        ),
        request_id=request_id or new_request_id(),
    )


def batches(
    points: Sequence[Point], max_points: int, max_bytes: int = MAX_POINT_BYTES
) -> list[Sequence[Point]]:
    """``points`` cut into runs of at most ``max_points`` points and ``max_bytes`` bytes."""
    out: list[Sequence[Point]] = []
    start = size = 0
    for i, point in enumerate(points):
        cost = _POINT_OVERHEAD + len(point[0])
        if i > start and (i - start >= max_points or size + cost > max_bytes):
            out.append(points[start:i])
            start, size = i, 0
        size += cost
    if start < len(points):
        out.append(points[start:])
    return out


def _add_points(field: Any, points: Sequence[Point]) -> None:
    add = field.add
    for key, value, step, ns in points:
        point = add(key=key, value=value, step=step)
        point.time.seconds, point.time.nanos = divmod(ns, _NS)


def log_points(
    run: str,
    points: Sequence[Point],
    params: Mapping[str, ParamValue] | None = None,
    request_id: str | None = None,
) -> tracking.LogRunDataRequest:
    """LogRunData of buffered points; built by the flusher, off the logging path."""
    request = tracking.LogRunDataRequest(
        run=run, params=params_to_pb(params), request_id=request_id or new_request_id()
    )
    _add_points(request.metrics, points)
    return request


def log_run_data(
    run: str,
    metrics: Mapping[str, float] | Iterable[Metric],
    step: int,
    params: Mapping[str, ParamValue] | None,
    request_id: str | None,
) -> tracking.LogRunDataRequest:
    if isinstance(metrics, Mapping):
        items = [Metric(key, float(value), step) for key, value in metrics.items()]
    else:
        items = list(metrics)
    request = tracking.LogRunDataRequest(
        run=run, params=params_to_pb(params), request_id=request_id or new_request_id()
    )
    for m in items:
        point = request.metrics.add(key=m.key, value=m.value, step=m.step)
        if m.time is not None:
            point.time.CopyFrom(_convert.time_to_pb(m.time))
    return request


def update_run(
    project: str,
    run_id: str,
    description: str | None,
    labels: Mapping[str, str] | None,
    etag: str,
    request_id: str | None,
) -> tracking.UpdateRunRequest:
    update_mask, given = mask(description=description, labels=labels)
    return tracking.UpdateRunRequest(
        run=pb.Run(name=run_name(project, run_id), etag=etag, **given),
        update_mask=update_mask,
        request_id=request_id or new_request_id(),
    )


def end_run(
    name: str,
    state: RunState | str,
    etag: str,
    request_id: str | None,
    points: Sequence[Point] = (),
) -> tracking.EndRunRequest:
    """EndRun, carrying the last buffered ``points`` (appended in the same transaction)."""
    request = tracking.EndRunRequest(
        name=name, state=run_state(state), etag=etag, request_id=request_id or new_request_id()
    )
    _add_points(request.metrics, points)
    return request


def create_evaluation(
    version: str,
    *,
    dataset: Named | str,
    metrics: Mapping[str, float],
    slice: str,
    run: Named | str | None,
    evaluation_id: str,
    labels: Mapping[str, str] | None,
    request_id: str | None,
) -> tracking.CreateEvaluationRequest:
    return tracking.CreateEvaluationRequest(
        parent=version,
        evaluation_id=evaluation_id,
        evaluation=pb.Evaluation(
            dataset_version=name_of(dataset, "dataset"),
            slice=slice,
            metrics={k: float(v) for k, v in metrics.items()},
            run="" if run is None else name_of(run, "run"),
            labels=labels or {},
        ),
        request_id=request_id or new_request_id(),
    )


def rank(
    parent: str,
    *,
    metric: str,
    dataset: Named | str,
    goal_: Goal | str,
    slice: str,
    filter: str,
    page_size: int,
) -> tracking.RankModelVersionsRequest:
    return tracking.RankModelVersionsRequest(
        parent=parent,
        metric=metric,
        dataset_version=name_of(dataset, "dataset"),
        slice=slice,
        goal=goal(goal_),
        filter=filter,
        page_size=page_size,
    )
