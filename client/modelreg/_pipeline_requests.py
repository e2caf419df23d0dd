"""Request builders of pipelines, shared by Client and AsyncClient; each mutation gets its
request_id here, once per logical call. Also what ``inputs=`` and ``add_output`` accept."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, TypeAlias

from modelreg import _convert
from modelreg._pipeline_convert import PIPELINE_RUN_STATE, PIPELINE_STEP_STATE, resource_ref_to_pb
from modelreg._pipeline_types import PipelineRunState, PipelineStepState, ResourceRef
from modelreg._requests import new_request_id
from modelreg._tracking_requests import params_to_pb
from modelreg._types import DataRef, DataRole, ParamValue
from modelreg.api.v1 import lineage_service_pb2 as lineage
from modelreg.api.v1 import resources_pb2 as pb

# One resource a step read or made: a ResourceRef; an SDK object with a resource name
# (DatasetVersion, ModelVersion, Run, an active run, Evaluation, Deployment, ...) or the
# name itself; or a (resource, role) pair.
RefInput: TypeAlias = "ResourceRef | Any | str | tuple[Any, str]"
_DATASET_VERSION = re.compile(r"projects/[^/]+/datasets/[^/]+/versions/[^/]+")
# PipelineStep.error and EndPipelineRunRequest.error: at most 10,000 characters.
MAX_ERROR = 10_000


def pipeline_name(project: str, pipeline: str) -> str:
    return f"projects/{project}/pipelines/{pipeline}"


def pipeline_run_name(project: str, pipeline: str, run_id: str) -> str:
    return f"{pipeline_name(project, pipeline)}/runs/{run_id}"


def ref_name(value: Any) -> str:
    """The resource name of ``value``: the string itself (``projects/...``), or the object's
    ``resource_name`` (or ``name``, when that is a resource name)."""
    if isinstance(value, str):
        if not value.startswith("projects/"):
            raise ValueError(f"expected a resource name 'projects/...', got {value!r}")
        return value
    for attribute in ("resource_name", "name"):
        name = getattr(value, attribute, None)
        if isinstance(name, str) and name.startswith("projects/"):
            return name
    raise TypeError(f"expected a resource name or an object with one, got {type(value).__name__}")


def ref(item: RefInput, role: str = "") -> ResourceRef:
    """One reference from any form ``inputs=`` accepts; ``role`` applies when the item
    does not give its own."""
    if isinstance(item, ResourceRef):
        return item
    if isinstance(item, tuple):
        target, own_role = item
        return ResourceRef(name=ref_name(target), role=own_role)
    return ResourceRef(name=ref_name(item), role=role)


def refs(items: Iterable[RefInput]) -> list[ResourceRef]:
    return [ref(item) for item in items]


def training_data(inputs: Iterable[ResourceRef]) -> list[DataRef]:
    """The dataset versions among a step's inputs, as a version's training data: the role
    when it names a data role (train, validation, test), else TRAIN."""
    data = []
    for r in inputs:
        if _DATASET_VERSION.fullmatch(r.name):
            role = r.role.upper()
            known = DataRole(role) if role in DataRole.__members__ else DataRole.TRAIN
            data.append(DataRef(dataset_version=r.name, role=known))
    return data


def step_state(value: PipelineStepState | str) -> pb.PipelineStep.State.ValueType:
    state = value if isinstance(value, PipelineStepState) else PipelineStepState(value.upper())
    return pb.PipelineStep.State.ValueType(PIPELINE_STEP_STATE.encode(state))


def run_state(value: PipelineRunState | str) -> pb.PipelineRun.State.ValueType:
    state = value if isinstance(value, PipelineRunState) else PipelineRunState(value.upper())
    return pb.PipelineRun.State.ValueType(PIPELINE_RUN_STATE.encode(state))


def error_text(exc: BaseException) -> str:
    """``Type: message`` of an exception, cut to what the server keeps."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text[:MAX_ERROR]


def create_pipeline_run(
    project: str,
    pipeline: str,
    *,
    run_id: str = "",
    definition_version: str = "",
    params: Mapping[str, ParamValue] | None = None,
    labels: Mapping[str, str] | None = None,
    description: str = "",
    request_id: str | None = None,
) -> lineage.CreatePipelineRunRequest:
    return lineage.CreatePipelineRunRequest(
        parent=pipeline_name(project, pipeline),
        run_id=run_id,
        pipeline_run=pb.PipelineRun(
            definition_version=definition_version,
            params=params_to_pb(params),
            labels=labels or {},
            description=description,
        ),
        request_id=request_id or new_request_id(),
    )


def record_step(
    run_name: str,
    step_id: str,
    state: PipelineStepState | str,
    *,
    params: Mapping[str, ParamValue] | None = None,
    inputs: Iterable[RefInput] = (),
    outputs: Iterable[RefInput] = (),
    error: str = "",
    start_time: datetime | None = None,
    end_time: datetime | None = None,
    request_id: str | None = None,
) -> lineage.RecordPipelineStepRequest:
    step = pb.PipelineStep(
        state=step_state(state),
        params=params_to_pb(params),
        inputs=[resource_ref_to_pb(r) for r in refs(inputs)],
        outputs=[resource_ref_to_pb(r) for r in refs(outputs)],
        error=error[:MAX_ERROR],
    )
    if start_time is not None:
        step.start_time.CopyFrom(_convert.time_to_pb(start_time))
    if end_time is not None:
        step.end_time.CopyFrom(_convert.time_to_pb(end_time))
    return lineage.RecordPipelineStepRequest(
        parent=run_name, step_id=step_id, step=step, request_id=request_id or new_request_id()
    )


def end_pipeline_run(
    name: str,
    state: PipelineRunState | str,
    error: str = "",
    etag: str = "",
    request_id: str | None = None,
) -> lineage.EndPipelineRunRequest:
    return lineage.EndPipelineRunRequest(
        name=name,
        state=run_state(state),
        error=error[:MAX_ERROR],
        etag=etag,
        request_id=request_id or new_request_id(),
    )
