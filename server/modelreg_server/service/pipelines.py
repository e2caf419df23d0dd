"""Use cases on pipeline runs and their steps: create, read, list, record a step,
end.

Each mutation is one transaction (through the idempotency component) with the
run row locked. RecordPipelineStep checks its input's shape before any work,
then, in the transaction: the run exists; each reference names an existing
resource of a kind a step may refer to (INVALID_ARGUMENT naming
``step.inputs[i]`` / ``step.outputs[i]`` otherwise); a call recording exactly
what is stored changes nothing; the run is open (PIPELINE_RUN_ENDED) and the
step not ended (STEP_ENDED); no output is an input or upstream of one
(LINEAGE_CYCLE). Then the step and its references are written whole, and a
FAILED step fails the run (which stays open until EndPipelineRun)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from modelreg_server.domain import errors
from modelreg_server.domain import pipelines as dp
from modelreg_server.domain.lineage import REF_KINDS, Kind, NodeKey
from modelreg_server.domain.names import etag as etag_of
from modelreg_server.domain.pipelines import (
    ENDED_RUN,
    ENDED_STEP,
    NewPipelineRun,
    NewStep,
    Pipeline,
    PipelineRun,
    PipelineRunState,
    StepRef,
    StepState,
)
from modelreg_server.domain.types import ListQuery, Page
from modelreg_server.limits import DEFAULT_LIMITS, FieldLimits
from modelreg_server.service import idempotency as idem
from modelreg_server.service import validation as check
from modelreg_server.service.common import check_etag
from modelreg_server.storage import lineage_refs, lineage_walk
from modelreg_server.storage import pipeline_steps as step_q
from modelreg_server.storage import pipelines as pipeline_q
from modelreg_server.storage import projects as project_q
from modelreg_server.storage.pipeline_steps import INPUT, OUTPUT, RefRow, StoredStep
from modelreg_server.storage.store import Conn, Store
from modelreg_server.storage.typed_rows import param_copy

_REF_KIND_NAMES = "dataset versions (batches), runs, model versions, evaluations or deployments"


def check_new_run(spec: NewPipelineRun, limits: FieldLimits, field: str = "pipeline_run") -> None:
    check.text(spec.definition_version, f"{field}.definition_version", dp.MAX_DEFINITION_VERSION)
    check.params(spec.params, f"{field}.params", limits)
    check.labels(spec.labels, f"{field}.labels", limits)
    check.text(spec.description, f"{field}.description", check.MAX_DESCRIPTION)


def _check_refs(refs: Sequence[StepRef], field: str) -> None:
    if len(refs) > dp.MAX_REFS:
        raise errors.InvalidArgument(field, f"more than {dp.MAX_REFS} references")
    for i, ref in enumerate(refs):
        if not ref.name:
            raise errors.InvalidArgument(f"{field}[{i}]", "required: a resource name")
        check.text(ref.role, f"{field}[{i}].role", dp.MAX_ROLE)


def check_step(step_id: str, step: NewStep, limits: FieldLimits) -> None:
    if not step_id:
        raise errors.InvalidArgument("step_id", "required, e.g. train")
    check.name(step_id, "step_id", "step id")
    check.params(step.params, "step.params", limits)
    _check_refs(step.inputs, "step.inputs")
    _check_refs(step.outputs, "step.outputs")
    if step.outputs and step.state is not StepState.SUCCEEDED:
        raise errors.InvalidArgument(
            "step.outputs", f"only a SUCCEEDED step records outputs; this one is {step.state.value}"
        )
    check.text(step.error, "step.error", dp.MAX_ERROR)
    if step.error and step.state not in (StepState.FAILED, StepState.SKIPPED):
        raise errors.InvalidArgument("step.error", "only for a FAILED or SKIPPED step")
    if step.end_time is not None and step.state not in ENDED_STEP:
        raise errors.InvalidArgument(
            "step.end_time", f"a {step.state.value} step has not ended; leave end_time unset"
        )
    if step.start_time and step.end_time and step.end_time < step.start_time:
        raise errors.InvalidArgument("step.end_time", "before start_time")


async def _resolve(conn: Conn, refs: Sequence[StepRef], field: str, direction: str) -> list[RefRow]:
    """The references checked against the database, in order."""
    found: list[tuple[NodeKey, str]] = []
    for i, ref in enumerate(refs):
        where = f"{field}[{i}]"
        try:
            node, name = await lineage_refs.resolve_named(conn, ref.name, where)
        except errors.NotFound as missing:
            raise errors.InvalidArgument(
                where, f"no such {missing.kind}: {check.shown(missing.name)}"
            ) from None
        if node.kind not in REF_KINDS:
            raise errors.InvalidArgument(
                where, f"a step reads and makes {_REF_KIND_NAMES}, not {check.shown(ref.name)}"
            )
        found.append((node, name))
    batches = await step_q.batches(conn, [n.id for n, _ in found if n.kind is Kind.DATASET_VERSION])
    rows = []
    for i, ((node, name), ref) in enumerate(zip(found, refs, strict=True)):
        actual = (
            "BATCH" if node.kind is Kind.DATASET_VERSION and node.id in batches else node.kind.value
        )
        # A batch is a dataset version too: either kind names it.
        if ref.kind and ref.kind != actual and (ref.kind, actual) != ("DATASET_VERSION", "BATCH"):
            raise errors.InvalidArgument(
                f"{field}[{i}].kind", f"{ref.kind} given, but {check.shown(name)} is a {actual}"
            )
        rows.append(RefRow(direction, i, node.kind.value, node.id, ref.role, name))
    return rows


def _same(stored: StoredStep, step: NewStep, refs: Sequence[RefRow]) -> bool:
    """Whether the call records exactly what is stored (times it leaves unset match)."""
    return (
        stored.state == step.state.value
        and stored.error == step.error
        and sorted(stored.param_list) == sorted(param_copy(step.params))
        and stored.refs == tuple(sorted(refs, key=lambda r: (r.direction, r.position)))
        and step.start_time in (None, stored.start_time)
        and step.end_time in (None, stored.end_time)
    )


def _step_values(step: NewStep, stored: StoredStep | None) -> dict[str, Any]:
    """The step row's values: times not given are the stored ones or the clock's."""
    start: Any = step.start_time
    if start is None and stored is not None:
        start = stored.start_time
    if step.end_time is not None and start is not None and step.end_time < start:
        raise errors.InvalidArgument("step.end_time", "before the step's start_time")
    if start is None and step.state is not StepState.PENDING:
        start = step_q.CLOCK
    end: Any = None
    if step.state in ENDED_STEP:
        end = step.end_time if step.end_time is not None else step_q.CLOCK
    return {
        "state": step.state.value,
        "start_time": start,
        "end_time": end,
        "param_list": param_copy(step.params),
        "error": step.error,
    }


async def _check_cycle(conn: Conn, inputs: Sequence[RefRow], outputs: Sequence[RefRow]) -> None:
    """No output may be an input of the step or upstream of one."""
    if not inputs or not outputs:
        return
    starts = [NodeKey(Kind(r.kind), r.target_id) for r in inputs]
    targets = {NodeKey(Kind(r.kind), r.target_id): r for r in reversed(outputs)}
    hit = await lineage_walk.reaches(conn, starts, targets, upstream=True)
    if hit is not None:
        out = targets[hit]
        raise errors.InvalidArgument(
            f"step.outputs[{out.position}]",
            f"{check.shown(out.name)} is an input of the step or upstream of one: "
            "as an output it would make a cycle",
            reason=dp.LINEAGE_CYCLE,
        )


def _ended(name: str, state: str) -> errors.FailedPrecondition:
    return errors.FailedPrecondition(
        f"{name} has ended ({state})", reason=dp.PIPELINE_RUN_ENDED, metadata={"state": state}
    )


class PipelinesService:
    def __init__(
        self, store: Store, requests: idem.Idempotency, limits: FieldLimits = DEFAULT_LIMITS
    ) -> None:
        self._store = store
        self._requests = requests
        self._limits = limits

    async def create_pipeline_run(
        self,
        project: str,
        pipeline: str,
        run_id: str,
        spec: NewPipelineRun,
        *,
        actor: str,
        request_id: str = "",
    ) -> PipelineRun:
        if run_id:
            check.name(run_id, "run_id", "run id")
        check_new_run(spec, self._limits)

        async def work(conn: Conn) -> PipelineRun:
            pid = await project_q.id_of(conn, project)
            row_id = await pipeline_q.create(
                conn, project, pid, pipeline, run_id, spec, created_by=actor
            )
            return await pipeline_q.get_by_id(conn, row_id)

        payload = (project, pipeline, run_id, spec)
        scope = dp.pipeline_name(project, pipeline)
        return await self._requests.run(
            idem.CREATE_PIPELINE_RUN, request_id, payload, work, scope=scope
        )

    async def get_pipeline_run(self, project: str, pipeline: str, run: str) -> PipelineRun:
        async with self._store.read() as conn:
            return await pipeline_q.get(conn, project, pipeline, run)

    async def list_pipeline_runs(
        self, project: str, pipeline: str, q: ListQuery
    ) -> Page[PipelineRun]:
        tokens = await self._store.page_tokens()
        async with self._store.read() as conn:
            return await pipeline_q.list_runs(conn, project, pipeline, q, tokens)

    async def list_pipelines(self, project: str, q: ListQuery) -> Page[Pipeline]:
        tokens = await self._store.page_tokens()
        async with self._store.read() as conn:
            return await pipeline_q.list_pipelines(conn, project, q, tokens)

    async def record_step(
        self,
        project: str,
        pipeline: str,
        run: str,
        step_id: str,
        step: NewStep,
        *,
        request_id: str = "",
    ) -> PipelineRun:
        check_step(step_id, step, self._limits)
        name = dp.pipeline_run_name(project, pipeline, run)

        async def work(conn: Conn) -> PipelineRun:
            row = await pipeline_q.lock(conn, project, pipeline, run)
            stored = await step_q.get(conn, row.id, step_id)
            if row.end_time is not None and stored is None:
                raise _ended(name, row.state)
            inputs = await _resolve(conn, step.inputs, "step.inputs", INPUT)
            outputs = await _resolve(conn, step.outputs, "step.outputs", OUTPUT)
            if stored is not None and _same(stored, step, [*inputs, *outputs]):
                return await pipeline_q.get_by_id(conn, row.id)
            if row.end_time is not None:
                raise _ended(name, row.state)
            if stored is not None and StepState(stored.state) in ENDED_STEP:
                raise errors.FailedPrecondition(
                    f"step {step_id} of {name} has ended ({stored.state}); it cannot change",
                    reason=dp.STEP_ENDED,
                    metadata={"state": stored.state},
                )
            await _check_cycle(conn, inputs, outputs)
            values = _step_values(step, stored)
            await step_q.save(conn, row.id, step_id, stored, values, [*inputs, *outputs])
            change: dict[str, Any] = {}
            if step.state is StepState.FAILED:
                change["state"] = PipelineRunState.FAILED.value
                if not row.error:
                    change["error"] = f"step {step_id}: {step.error or 'failed'}"
            await pipeline_q.update_(conn, row.id, change)
            return await pipeline_q.get_by_id(conn, row.id)

        payload = (project, pipeline, run, step_id, step)
        return await self._requests.run(
            idem.RECORD_PIPELINE_STEP, request_id, payload, work, scope=name
        )

    async def end_pipeline_run(
        self,
        project: str,
        pipeline: str,
        run: str,
        state: PipelineRunState,
        error: str = "",
        *,
        etag: str = "",
        request_id: str = "",
    ) -> PipelineRun:
        """End an open run. Ending it again with the state it ended with returns it
        unchanged (whatever the etag); another state is PIPELINE_RUN_ENDED."""
        if state not in ENDED_RUN:
            raise errors.InvalidArgument("state", "required: SUCCEEDED, FAILED or CANCELLED")
        check.text(error, "error", dp.MAX_ERROR)
        if error and state is PipelineRunState.SUCCEEDED:
            raise errors.InvalidArgument("error", "only for a FAILED or CANCELLED run")
        name = dp.pipeline_run_name(project, pipeline, run)

        async def work(conn: Conn) -> PipelineRun:
            row = await pipeline_q.lock(conn, project, pipeline, run)
            if row.end_time is not None:
                if row.state == state.value:
                    return await pipeline_q.get_by_id(conn, row.id)
                raise _ended(name, row.state)
            check_etag(etag, etag_of(row.revision), name)
            if state is PipelineRunState.SUCCEEDED and row.state == PipelineRunState.FAILED.value:
                raise errors.FailedPrecondition(
                    f"{name} cannot succeed: {row.error}", reason=dp.PIPELINE_STEP_FAILED
                )
            change: dict[str, Any] = {"state": state.value, "end_time": step_q.CLOCK}
            if error and not row.error:
                change["error"] = error
            await pipeline_q.update_(conn, row.id, change)
            return await pipeline_q.get_by_id(conn, row.id)

        payload = (project, pipeline, run, state.value, error, etag)
        return await self._requests.run(
            idem.END_PIPELINE_RUN, request_id, payload, work, scope=name
        )
