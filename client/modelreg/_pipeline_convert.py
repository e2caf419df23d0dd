"""Pure conversions between the pipeline wire messages and the SDK's dataclasses (enums by
name, as in ``_convert``)."""

from __future__ import annotations

from modelreg._convert import EnumMap, optional_time, param, segments, time
from modelreg._pipeline_types import (
    Pipeline,
    PipelineRun,
    PipelineRunState,
    PipelineStep,
    PipelineStepState,
    ResourceKind,
    ResourceRef,
)
from modelreg.api.v1 import resources_pb2 as pb

RESOURCE_KIND = EnumMap(
    pb.ResourceRef.DESCRIPTOR.fields_by_name["kind"], ResourceKind, prefix="RESOURCE_KIND_"
)
PIPELINE_STEP_STATE = EnumMap(pb.PipelineStep.DESCRIPTOR.fields_by_name["state"], PipelineStepState)
PIPELINE_RUN_STATE = EnumMap(pb.PipelineRun.DESCRIPTOR.fields_by_name["state"], PipelineRunState)


def resource_ref(msg: pb.ResourceRef) -> ResourceRef:
    return ResourceRef(name=msg.name, kind=RESOURCE_KIND.decode(msg.kind), role=msg.role)


def resource_ref_to_pb(ref: ResourceRef) -> pb.ResourceRef:
    kind = 0 if ref.kind is None else RESOURCE_KIND.encode(ResourceKind(ref.kind))
    return pb.ResourceRef(name=ref.name, kind=pb.ResourceKind.ValueType(kind), role=ref.role)


def pipeline_step(msg: pb.PipelineStep) -> PipelineStep:
    return PipelineStep(
        name=msg.name,
        step_id=msg.step_id,
        state=PIPELINE_STEP_STATE.decode(msg.state),
        start_time=optional_time(msg, "start_time"),
        end_time=optional_time(msg, "end_time"),
        params={k: param(v) for k, v in msg.params.items()},
        inputs=tuple(map(resource_ref, msg.inputs)),
        outputs=tuple(map(resource_ref, msg.outputs)),
        error=msg.error,
        position=msg.position,
        update_time=time(msg.update_time),
    )


def pipeline_run(msg: pb.PipelineRun) -> PipelineRun:
    return PipelineRun(
        project=segments(msg.name)[0],
        pipeline=msg.pipeline,
        run_id=msg.run_id,
        definition_version=msg.definition_version,
        state=PIPELINE_RUN_STATE.decode(msg.state),
        start_time=time(msg.start_time),
        end_time=optional_time(msg, "end_time"),
        params={k: param(v) for k, v in msg.params.items()},
        labels=dict(msg.labels),
        description=msg.description,
        error=msg.error,
        steps=tuple(map(pipeline_step, msg.steps)),
        created_by=msg.created_by,
        update_time=time(msg.update_time),
        etag=msg.etag,
    )


def pipeline(msg: pb.Pipeline) -> Pipeline:
    project, name = segments(msg.name)
    return Pipeline(
        project=project,
        name=name,
        run_count=msg.run_count,
        latest_run=msg.latest_run,
        create_time=time(msg.create_time),
        update_time=time(msg.update_time),
    )
