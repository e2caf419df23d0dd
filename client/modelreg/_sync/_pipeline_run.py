# Generated from client/modelreg/_async/_pipeline_run.py by client/tools/unasync.py: do not edit.
# Change the async source and run `make sync`; `make lint` fails while this is stale.
"""An active pipeline run and its steps: what ``pipeline_run`` and ``run.step`` return."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any

from modelreg import _convert
from modelreg import _pipeline_requests as pr
from modelreg import _requests as req
from modelreg import _tracking_requests as tr
from modelreg._batching import INTERRUPTS
from modelreg._errors import FailedPreconditionError
from modelreg._pipeline_convert import pipeline_run
from modelreg._pipeline_types import PipelineRun, PipelineRunState, PipelineStepState, ResourceRef
from modelreg._sync._evaluations import VersionRef, _version_name
from modelreg._sync._rpc import LINEAGE, RPC, TRACKING
from modelreg._tracking_types import DataInput, Evaluation, Named
from modelreg._types import CodeVersion, ModelVersion, ParamValue
from modelreg.api.v1 import lineage_service_pb2 as lineage

log = logging.getLogger("modelreg")


class ActivePipelineRun:
    """A pipeline run being recorded; use it as a context manager.

    Entering creates the run (RUNNING). Each ``step(...)`` block records one step. Leaving
    ends the run: SUCCEEDED when the block finished and no step failed; FAILED when the
    block raised (with the exception as the run's error) or a step failed; CANCELLED when it
    was interrupted (KeyboardInterrupt, asyncio.CancelledError) outside a step. The block's
    exception is re-raised.

    Example:
        >>> with client.pipeline_run("screen_clean", "nightly") as p:
        ...     with p.step("train", inputs=[batch]) as s:
        ...         v = s.register_model_version("detector", artifact_uri="./v1.pt")
        ...     with p.step("validate", inputs=[v, test_ds]) as s:
        ...         s.log_evaluation(v, dataset=test_ds, metrics={"f1": 0.9})
    """

    def __init__(self, rpc: RPC, project: str, request: lineage.CreatePipelineRunRequest) -> None:
        self._rpc = rpc
        self._project = project
        self._create = request
        self._run: PipelineRun | None = None
        self._failed: list[str] = []
        self._ended = False

    @property
    def project(self) -> str:
        return self._project

    @property
    def pipeline(self) -> str:
        return self._create.parent.rpartition("/")[2]

    @property
    def run_id(self) -> str:
        """The run id, e.g. ``run_001`` (made by the server unless given); set on enter."""
        return self._entered().run_id

    @property
    def name(self) -> str:
        """The run's resource name, ``projects/{p}/pipelines/{pl}/runs/{r}``; set on enter."""
        return self._entered().resource_name

    @property
    def resource_name(self) -> str:
        return self.name

    @property
    def run(self) -> PipelineRun:
        """The run as the last call made or recorded it returned it."""
        return self._entered()

    def __enter__(self) -> ActivePipelineRun:
        if self._run is not None:
            raise RuntimeError(f"pipeline run {self._run.resource_name} was entered already")
        self._run = self._call("CreatePipelineRun", self._create)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._ended or self._run is None:
            return
        if exc is None:
            self.end(PipelineRunState.FAILED if self._failed else PipelineRunState.SUCCEEDED)
            return
        # The block's exception is what the caller must see: failing to end the run is
        # logged, not raised over it.
        # Interrupted between steps: CANCELLED; a step that failed (even by the
        # interruption) makes it FAILED.
        interrupted = isinstance(exc, INTERRUPTS) and not self._failed
        state = PipelineRunState.CANCELLED if interrupted else PipelineRunState.FAILED
        try:
            self.end(state, error=pr.error_text(exc))
        except Exception:
            log.warning("pipeline run %s: could not be ended", self.name, exc_info=True)

    def step(
        self,
        step_id: str,
        *,
        inputs: Iterable[pr.RefInput] = (),
        params: Mapping[str, ParamValue] | None = None,
    ) -> ActiveStep:
        """A step to use as a context manager: recorded RUNNING with its inputs on enter;
        on exit SUCCEEDED with its outputs, or FAILED with the block's error and no outputs
        (the error is re-raised).

        Args:
            step_id: ``[a-z][a-z0-9_-]{0,62}``, e.g. ``train``.
            inputs: what the step reads: SDK objects (DatasetVersion, ModelVersion, Run,
                Evaluation, Deployment...) or resource names, ``(resource, role)`` pairs,
                or ResourceRefs. More may be added with ``step.add_input``.
            params: the step's parameters; bool, int, float or str values.
        """
        self._entered()
        return ActiveStep(self, step_id, pr.refs(inputs), dict(params or {}))

    def skip(self, step_id: str, reason: str = "") -> PipelineRun:
        """Record ``step_id`` as SKIPPED (not run), ``reason`` saying why."""
        request = pr.record_step(self.name, step_id, PipelineStepState.SKIPPED, error=reason)
        return self._record(request)

    def get(self) -> PipelineRun:
        """The run as the server has it now."""
        request = lineage.GetPipelineRunRequest(name=self.name)
        self._run = self._call("GetPipelineRun", request)
        return self._run

    def end(self, state: PipelineRunState | str, *, error: str = "") -> PipelineRun:
        """End the run now with ``state`` (SUCCEEDED, FAILED or CANCELLED); the block's
        exit then does nothing more. SUCCEEDED after a failed step ends it FAILED."""
        name = self.name
        self._ended = True
        try:
            self._run = self._call("EndPipelineRun", pr.end_pipeline_run(name, state, error))
        except FailedPreconditionError as exc:
            if exc.reason != "PIPELINE_STEP_FAILED":
                raise
            # A step failed where this object did not see it (recorded by another caller).
            request = pr.end_pipeline_run(name, PipelineRunState.FAILED, error)
            self._run = self._call("EndPipelineRun", request)
        return self._run

    # For the steps

    def _entered(self) -> PipelineRun:
        if self._run is None:
            raise RuntimeError(
                "enter the pipeline run first: pipeline_run returns a context manager"
            )
        return self._run

    def _record(self, request: lineage.RecordPipelineStepRequest) -> PipelineRun:
        if self._ended:
            raise RuntimeError(f"pipeline run {self.name} has ended")
        self._run = self._call("RecordPipelineStep", request)
        return self._run

    def _call(self, method: str, request: Any) -> PipelineRun:
        return pipeline_run(self._rpc.call(method, request, service=LINEAGE))


class ActiveStep:
    """One step of an active pipeline run; use it as a context manager (see
    ``ActivePipelineRun.step``). What the step made is recorded when it succeeds: the
    versions and evaluations made through it, and what ``add_output`` names. A step that
    fails records no outputs; a version it registered before failing stays in the registry
    (READY, so ``latest`` may resolve to it) without a link to the step: archive it if it
    must not be served."""

    def __init__(
        self,
        run: ActivePipelineRun,
        step_id: str,
        inputs: list[ResourceRef],
        params: dict[str, ParamValue],
    ) -> None:
        self._run = run
        self._step_id = step_id
        self._inputs = inputs
        self._outputs: list[ResourceRef] = []
        self._params = params
        self._start: datetime | None = None
        self._open = False

    @property
    def step_id(self) -> str:
        return self._step_id

    @property
    def name(self) -> str:
        """The step's resource name, ``projects/{p}/pipelines/{pl}/runs/{r}/steps/{s}``."""
        return f"{self._run.name}/steps/{self._step_id}"

    @property
    def resource_name(self) -> str:
        return self.name

    @property
    def inputs(self) -> tuple[ResourceRef, ...]:
        return tuple(self._inputs)

    @property
    def outputs(self) -> tuple[ResourceRef, ...]:
        """What the step will record as made when it succeeds."""
        return tuple(self._outputs)

    def __enter__(self) -> ActiveStep:
        if self._open or self._start is not None:
            raise RuntimeError(f"step {self.name} was entered already")
        run = self._run._record(self._request(PipelineStepState.RUNNING))
        self._start = run.step(self._step_id).start_time
        self._open = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._open = False
        if exc is None:
            try:
                self._run._record(self._request(PipelineStepState.SUCCEEDED, outputs=True))
                return
            except Exception as refused:
                # Not recorded with its outputs (e.g. a reference the server refused): the
                # step failed, with nothing half-recorded, and the caller sees why.
                self._fail(refused)
                raise
        self._fail(exc)

    def add_input(self, resource: pr.RefInput, role: str = "") -> ResourceRef:
        """Record one more thing the step read (an SDK object, a resource name, or a
        ``(resource, role)`` pair)."""
        ref = pr.ref(resource, role)
        self._inputs.append(ref)
        return ref

    def add_output(self, resource: pr.RefInput, role: str = "") -> ResourceRef:
        """Record something the step made (a version, evaluation, deployment, run, dataset
        version...); it is recorded when the step succeeds."""
        self._check()
        ref = pr.ref(resource, role)
        self._outputs.append(ref)
        return ref

    def register_model_version(
        self,
        model: str,
        *,
        artifact_uri: str,
        artifact_sha256: str = "",
        artifact_size: int = 0,
        artifact_format: str = "",
        architecture: str = "",
        architecture_config: Mapping[str, Any] | None = None,
        params: Mapping[str, ParamValue] | None = None,
        training_data: Iterable[DataInput] | None = None,
        source_run: str = "",
        code_version: CodeVersion | None = None,
        parent_version: str | None = None,
        labels: Mapping[str, str] | None = None,
        description: str = "",
        request_id: str | None = None,
    ) -> ModelVersion:
        """Register the next version of ``model`` in the pipeline's project, as an output of
        this step. Takes the arguments of ``Client.register_model_version``;
        ``training_data`` defaults to the dataset versions among the step's inputs (role
        from the input's role when it is train, validation or test, else TRAIN)."""
        self._check()
        data = pr.training_data(self._inputs) if training_data is None else training_data
        request = req.register_model_version(
            self._run.project,
            model,
            artifact_uri=artifact_uri,
            artifact_sha256=artifact_sha256,
            artifact_size=artifact_size,
            artifact_format=artifact_format,
            architecture=architecture,
            architecture_config=architecture_config,
            params=params,
            training_data=data,
            source_run=source_run,
            code_version=code_version,
            parent_version=parent_version,
            labels=labels,
            description=description,
            request_id=request_id,
        )
        version = _convert.model_version(self._run._rpc.call("CreateModelVersion", request))
        self.add_output(version, role="model")
        return version

    def log_evaluation(
        self,
        version: VersionRef,
        *,
        dataset: Named | str,
        metrics: Mapping[str, float],
        slice: str = "",
        run: Named | str | None = None,
        evaluation_id: str = "",
        labels: Mapping[str, str] | None = None,
        request_id: str | None = None,
    ) -> Evaluation:
        """Record the metrics of a model version on a dataset version, as an output of this
        step (the arguments of ``Client.log_evaluation``). The version and the dataset
        version are added to the step's inputs unless already there (or, the version,
        made by this step)."""
        self._check()
        request = tr.create_evaluation(
            _version_name(version),
            dataset=dataset,
            metrics=metrics,
            slice=slice,
            run=run,
            evaluation_id=evaluation_id,
            labels=labels,
            request_id=request_id,
        )
        message = self._run._rpc.call("CreateEvaluation", request, service=TRACKING)
        evaluation = _convert.evaluation(message)
        known = {r.name for r in (*self._inputs, *self._outputs)}
        for used, role in (
            (request.parent, "model"),
            (request.evaluation.dataset_version, "evaluation"),
        ):
            if used not in known:
                self.add_input(used, role)
        self.add_output(evaluation, role="evaluation")
        return evaluation

    def _check(self) -> None:
        if not self._open:
            raise RuntimeError(f"step {self._step_id}: use it inside its 'with' block")

    def _request(
        self, state: PipelineStepState, *, outputs: bool = False, error: str = ""
    ) -> lineage.RecordPipelineStepRequest:
        return pr.record_step(
            self._run.name,
            self._step_id,
            state,
            params=self._params,
            inputs=self._inputs,
            outputs=self._outputs if outputs else (),
            error=error,
            start_time=self._start,
        )

    def _fail(self, exc: BaseException) -> None:
        """Record the step FAILED with ``exc`` and no outputs; a failure to record it is
        logged, not raised over ``exc``."""
        self._run._failed.append(self._step_id)
        try:
            self._run._record(self._request(PipelineStepState.FAILED, error=pr.error_text(exc)))
        except Exception:
            log.warning("step %s: could not be recorded FAILED", self.name, exc_info=True)
