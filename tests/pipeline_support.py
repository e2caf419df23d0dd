"""What the pipeline tests share: raw LineageService calls (the SDK's pipeline
helpers are another helper's) and their failures."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import grpc

from modelreg.api.v1 import lineage_service_pb2 as rpc
from modelreg.api.v1 import resources_pb2 as pb
from tests.bad_input import bad_fields, error_info
from tests.hostile import outcome
from tests.support import ACTOR

Step = pb.PipelineStep


def create(
    lin: Any, project: str, pipeline: str = "nightly", run_id: str = "", **fields: Any
) -> Any:
    """CreatePipelineRun; the new PipelineRun."""
    request_id = fields.pop("request_id", "")
    return lin.CreatePipelineRun(
        rpc.CreatePipelineRunRequest(
            parent=f"projects/{project}/pipelines/{pipeline}",
            run_id=run_id,
            pipeline_run=pb.PipelineRun(**fields),
            request_id=request_id,
        ),
        metadata=ACTOR,
        timeout=20,
    )


def ref(name: str, kind: Any = pb.RESOURCE_KIND_UNSPECIFIED, role: str = "") -> pb.ResourceRef:
    return pb.ResourceRef(name=name, kind=kind, role=role)


def refs(names: Iterable[str | pb.ResourceRef]) -> list[pb.ResourceRef]:
    return [n if isinstance(n, pb.ResourceRef) else ref(n) for n in names]


def step_request(
    run: str,
    step_id: str,
    state: Any,
    inputs: Iterable[str | pb.ResourceRef] = (),
    outputs: Iterable[str | pb.ResourceRef] = (),
    request_id: str = "",
    **fields: Any,
) -> rpc.RecordPipelineStepRequest:
    return rpc.RecordPipelineStepRequest(
        parent=run,
        step_id=step_id,
        step=Step(state=state, inputs=refs(inputs), outputs=refs(outputs), **fields),
        request_id=request_id,
    )


def record(lin: Any, run: str, step_id: str, state: Any, *args: Any, **fields: Any) -> Any:
    """RecordPipelineStep; the PipelineRun."""
    request = step_request(run, step_id, state, *args, **fields)
    return lin.RecordPipelineStep(request, metadata=ACTOR, timeout=20)


def end(lin: Any, run: str, state: Any, **fields: Any) -> Any:
    request = rpc.EndPipelineRunRequest(name=run, state=state, **fields)
    return lin.EndPipelineRun(request, metadata=ACTOR, timeout=20)


def get(lin: Any, run: str) -> Any:
    return lin.GetPipelineRun(rpc.GetPipelineRunRequest(name=run), timeout=20)


def fails(call: Any, request: Any, code: grpc.StatusCode, reason: str, field: str = "") -> str:
    """The call fails with ``code`` and ``reason`` (naming ``field`` if given): its message."""
    got, status = outcome(call, request)
    assert got == code, (got, status.message)
    assert error_info(status).reason == reason, status.message
    if field:
        assert bad_fields(status) == [field], status.message
    return str(status.message)
