"""Pure conversions of LineageService's pipeline messages, as convert.py does for
the registry's: names and requests become domain inputs; records fill responses
in place."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from modelreg.api.v1 import resources_pb2 as pb
from modelreg_server.domain import names
from modelreg_server.domain import pipelines as dp
from modelreg_server.domain.errors import InvalidArgument
from modelreg_server.service import validation
from modelreg_server.transport.convert import (
    EPOCH,
    FIRST_TIME,
    TIME_RANGE,
    EnumMap,
    fill_params,
    param_value,
    set_time,
    storable,
)

RUN_STATES = EnumMap(dp.PipelineRunState, pb.PipelineRun.State.DESCRIPTOR)
STEP_STATES = EnumMap(dp.StepState, pb.PipelineStep.State.DESCRIPTOR)
_RUN_STATE_NUMBER: dict[str, Any] = {m.value: n for m, n in RUN_STATES.to_pb.items()}
_STEP_STATE_NUMBER: dict[str, Any] = {m.value: n for m, n in STEP_STATES.to_pb.items()}
_KIND_PREFIX = "RESOURCE_KIND_"
# ResourceKind numbers <-> names without the prefix ("" for UNSPECIFIED: infer it).
_KIND_NAME = {
    v.number: v.name.removeprefix(_KIND_PREFIX)
    for v in pb.ResourceKind.DESCRIPTOR.values
    if v.number != pb.RESOURCE_KIND_UNSPECIFIED
}
_KIND_NUMBER: dict[str, Any] = {n: k for k, n in _KIND_NAME.items()}


# Names and requests -> domain


def _parse(
    name: str, field: str, collections: tuple[str, ...], list_all: bool = False
) -> list[str]:
    parts = name.split("/")
    expected = "/".join(f"{c}/{{{c[:-1]}}}" for c in collections)
    if len(parts) != 2 * len(collections) or tuple(parts[0::2]) != collections:
        raise InvalidArgument(field, f"expected {expected}, got {validation.shown(name)}")
    ids = parts[1::2]
    for i, (collection, value) in enumerate(zip(collections, ids, strict=True)):
        if list_all and i == len(ids) - 1 and value == "-":
            continue
        validation.name(value, field, collection[:-1])
    return ids


def pipeline(name: str, field: str = "parent", *, list_all: bool = False) -> tuple[str, str]:
    """`projects/{p}/pipelines/{pl}` -> (p, pl); `{pl}` may be `-` with ``list_all``."""
    p, pl = _parse(name, field, ("projects", "pipelines"), list_all)
    return p, pl


def pipeline_run(name: str, field: str = "name") -> tuple[str, str, str]:
    """`projects/{p}/pipelines/{pl}/runs/{r}` -> (p, pl, r)."""
    p, pl, r = _parse(name, field, ("projects", "pipelines", "runs"))
    return p, pl, r


# The calendar's first and last microsecond: the database driver stores them as
# -infinity and infinity, which no time arithmetic (or reading back) survives.


def _time(msg: Any, field: str, where: str) -> datetime | None:
    if not msg.HasField(field):
        return None
    ts: Timestamp = getattr(msg, field)
    try:
        when = EPOCH + timedelta(seconds=ts.seconds, microseconds=ts.nanos // 1_000)
    except OverflowError:
        when = FIRST_TIME
    if not storable(when):
        raise InvalidArgument(where, TIME_RANGE)
    return when


def _params(msg: Any, field: str) -> dict[str, Any]:
    return {k: param_value(v, f"{field}[{validation.shown(k)}]") for k, v in msg.items()}


def new_pipeline_run(msg: pb.PipelineRun, field: str = "pipeline_run") -> dp.NewPipelineRun:
    return dp.NewPipelineRun(
        definition_version=msg.definition_version,
        params=_params(msg.params, f"{field}.params"),
        labels=dict(msg.labels),
        description=msg.description,
    )


def _refs(refs: Any, field: str) -> tuple[dp.StepRef, ...]:
    out = []
    for i, ref in enumerate(refs):
        kind = ""
        if ref.kind != pb.RESOURCE_KIND_UNSPECIFIED:
            kind = _KIND_NAME.get(ref.kind, "")
            if not kind:
                raise InvalidArgument(f"{field}[{i}].kind", f"unknown value {ref.kind}")
        out.append(dp.StepRef(name=ref.name, kind=kind, role=ref.role))
    return tuple(out)


def new_step(msg: pb.PipelineStep, field: str = "step") -> dp.NewStep:
    if msg.state == pb.PipelineStep.STATE_UNSPECIFIED:
        raise InvalidArgument(
            f"{field}.state", "required: PENDING, RUNNING, SUCCEEDED, FAILED or SKIPPED"
        )
    state: dp.StepState = STEP_STATES.parse(msg.state, f"{field}.state")
    return dp.NewStep(
        state=state,
        start_time=_time(msg, "start_time", f"{field}.start_time"),
        end_time=_time(msg, "end_time", f"{field}.end_time"),
        params=_params(msg.params, f"{field}.params"),
        inputs=_refs(msg.inputs, f"{field}.inputs"),
        outputs=_refs(msg.outputs, f"{field}.outputs"),
        error=msg.error,
    )


def end_state(number: int) -> dp.PipelineRunState:
    if number == pb.PipelineRun.STATE_UNSPECIFIED:
        raise InvalidArgument("state", "required: SUCCEEDED, FAILED or CANCELLED")
    state: dp.PipelineRunState = RUN_STATES.parse(number, "state")
    return state


# Records -> responses


def _set_micros(ts: Timestamp, micros: int) -> None:
    seconds, rest = divmod(micros, 1_000_000)
    ts.seconds = seconds
    ts.nanos = rest * 1_000


def _fill_refs(refs: Any, items: list[list[str]]) -> None:
    for name, kind, role in items:
        ref = refs.add()
        ref.name = name
        ref.kind = _KIND_NUMBER[kind]
        ref.role = role


def fill_step(msg: pb.PipelineStep, s: dp.StepRecord, run_name: str) -> pb.PipelineStep:
    msg.name = f"{run_name}/steps/{s['step_id']}"
    msg.step_id = s["step_id"]
    msg.state = _STEP_STATE_NUMBER[s["state"]]
    if (start := s["start_us"]) is not None:
        _set_micros(msg.start_time, int(start))
    if (end := s["end_us"]) is not None:
        _set_micros(msg.end_time, int(end))
    fill_params(msg.params, s["param_list"])
    _fill_refs(msg.inputs, s["inputs"])
    _fill_refs(msg.outputs, s["outputs"])
    msg.error = s["error"]
    msg.position = s["position"]
    _set_micros(msg.update_time, int(s["update_us"]))
    return msg


def fill_pipeline_run(msg: pb.PipelineRun, r: dp.PipelineRun) -> pb.PipelineRun:
    project, pipeline_id, run = r["project_name"], r["pipeline_name"], r["name"]
    msg.name = dp.pipeline_run_name(project, pipeline_id, run)
    msg.pipeline = pipeline_id
    msg.run_id = run
    msg.definition_version = r["definition_version"]
    msg.state = _RUN_STATE_NUMBER[r["state"]]
    set_time(msg.start_time, r["start_time"])
    if (end := r["end_time"]) is not None:
        set_time(msg.end_time, end)
    fill_params(msg.params, r["param_list"])
    msg.labels.update(r["labels"])
    msg.description = r["description"]
    msg.error = r["error"]
    for s in r["steps"]:
        fill_step(msg.steps.add(), s, msg.name)
    msg.created_by = r["created_by"]
    set_time(msg.update_time, r["update_time"])
    msg.etag = names.etag(r["revision"])
    return msg


def fill_pipeline(msg: pb.Pipeline, r: dp.Pipeline) -> pb.Pipeline:
    project = r["project_name"]
    msg.name = dp.pipeline_name(project, r["name"])
    msg.run_count = r["run_count"]
    if r["latest_run"]:
        msg.latest_run = dp.pipeline_run_name(project, r["name"], r["latest_run"])
    set_time(msg.create_time, r["create_time"])
    set_time(msg.update_time, r["update_time"])
    return msg
