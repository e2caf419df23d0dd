# Generated from client/modelreg/_async/_pipelines.py by client/tools/unasync.py: do not edit.
# Change the async source and run `make sync`; `make lint` fails while this is stale.
"""Pipeline runs: ``projects/{p}/pipelines/{pl}/runs/{r}``, each step recorded with what it
read and made."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from modelreg import _pipeline_requests as pr
from modelreg import _requests as req
from modelreg._pipeline_convert import pipeline, pipeline_run
from modelreg._pipeline_types import Pipeline, PipelineRun, PipelineRunState, PipelineStepState
from modelreg._sync._pipeline_run import ActivePipelineRun
from modelreg._sync._rpc import LINEAGE, RPC, Pager
from modelreg._types import ParamValue
from modelreg.api.v1 import lineage_service_pb2 as lineage


class Pipelines:
    """The pipeline methods of Client."""

    _rpc: RPC

    def pipeline_run(
        self,
        project: str,
        pipeline: str,
        *,
        definition_version: str = "",
        run_id: str = "",
        params: Mapping[str, ParamValue] | None = None,
        labels: Mapping[str, str] | None = None,
        description: str = "",
        request_id: str | None = None,
    ) -> ActivePipelineRun:
        """A pipeline run to use as a context manager: created on enter (the pipeline with
        its first run), ended on exit (SUCCEEDED; FAILED if the block raised or a step
        failed; CANCELLED if interrupted). Record steps with ``with p.step(...) as s``.

        Args:
            pipeline: the pipeline (definition) name, ``[a-z][a-z0-9_-]{0,62}``.
            definition_version: the version of the definition that runs, e.g.
                ``git:ab12cd``, so reruns compare.
            run_id: ``[a-z][a-z0-9_-]{0,62}``; the server makes ``run_001``, ... if not given.
            params: the run's parameters; bool, int, float or str values.

        Example:
            >>> with client.pipeline_run("screen_clean", "nightly",
            ...                          definition_version="git:ab12cd") as p:
            ...     with p.step("train", inputs=[batch]) as s:
            ...         v = s.register_model_version("detector", artifact_uri="./v1.pt")
            ...     with p.step("validate", inputs=[v, test_ds]) as s:
            ...         s.log_evaluation(v, dataset=test_ds, metrics={"f1": 0.91})
            ...     p.skip("deploy", reason="f1 below 0.95")
        """
        request = pr.create_pipeline_run(
            project,
            pipeline,
            run_id=run_id,
            definition_version=definition_version,
            params=params,
            labels=labels,
            description=description,
            request_id=request_id,
        )
        return ActivePipelineRun(self._rpc, project, request)

    def create_pipeline_run(
        self,
        project: str,
        pipeline: str,
        *,
        definition_version: str = "",
        run_id: str = "",
        params: Mapping[str, ParamValue] | None = None,
        labels: Mapping[str, str] | None = None,
        description: str = "",
        request_id: str | None = None,
    ) -> PipelineRun:
        """Start a pipeline run (RUNNING) without a context manager; record its steps with
        ``record_pipeline_step`` and end it with ``end_pipeline_run``."""
        request = pr.create_pipeline_run(
            project,
            pipeline,
            run_id=run_id,
            definition_version=definition_version,
            params=params,
            labels=labels,
            description=description,
            request_id=request_id,
        )
        return pipeline_run(self._rpc.call("CreatePipelineRun", request, service=LINEAGE))

    def get_pipeline_run(self, project: str, pipeline: str, run_id: str) -> PipelineRun:
        """One pipeline run with its steps."""
        request = lineage.GetPipelineRunRequest(
            name=pr.pipeline_run_name(project, pipeline, run_id)
        )
        return pipeline_run(self._rpc.call("GetPipelineRun", request, service=LINEAGE))

    def list_pipeline_runs(
        self,
        project: str,
        pipeline: str | None = None,
        *,
        filter: str = "",
        order_by: str = "",
        page_size: int = 0,
    ) -> Pager[PipelineRun]:
        """Iterate over the runs of ``pipeline``, or of every pipeline of the project (None),
        each with its steps.

        Args:
            filter: e.g. ``'definition_version = "git:ab12cd" AND state = "FAILED"'``;
                fields: pipeline, run_id, definition_version, state, start_time, end_time,
                created_by, labels.<key>.
            order_by: ``start_time`` (default) or ``run_id``, optionally `` desc``.
        """
        parent = pr.pipeline_name(project, "-" if pipeline is None else pipeline)
        request = lineage.ListPipelineRunsRequest(
            parent=parent, filter=filter, order_by=order_by, page_size=req.page_size(page_size)
        )
        return self._rpc.pages(
            "ListPipelineRuns", request, "pipeline_runs", pipeline_run, service=LINEAGE
        )

    def list_pipelines(self, project: str, *, page_size: int = 0) -> Pager[Pipeline]:
        """Iterate over a project's pipelines, by name."""
        request = lineage.ListPipelinesRequest(
            parent=req.project_name(project), page_size=req.page_size(page_size)
        )
        return self._rpc.pages("ListPipelines", request, "pipelines", pipeline, service=LINEAGE)

    def record_pipeline_step(
        self,
        project: str,
        pipeline: str,
        run_id: str,
        step_id: str,
        *,
        state: PipelineStepState | str,
        params: Mapping[str, ParamValue] | None = None,
        inputs: Iterable[pr.RefInput] = (),
        outputs: Iterable[pr.RefInput] = (),
        error: str = "",
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        request_id: str | None = None,
    ) -> PipelineRun:
        """Record one step of an open pipeline run with its state, inputs and outputs, in one
        call: all of it or nothing (the low-level call under ``p.step``).

        The first call for a step adds it; later ones replace it while it is PENDING or
        RUNNING. Outputs only go with SUCCEEDED; a FAILED step makes the run FAILED.
        ``inputs`` and ``outputs`` take SDK objects, resource names, ``(resource, role)``
        pairs or ResourceRefs. Returns the run.
        """
        request = pr.record_step(
            pr.pipeline_run_name(project, pipeline, run_id),
            step_id,
            state,
            params=params,
            inputs=inputs,
            outputs=outputs,
            error=error,
            start_time=start_time,
            end_time=end_time,
            request_id=request_id,
        )
        return pipeline_run(self._rpc.call("RecordPipelineStep", request, service=LINEAGE))

    def end_pipeline_run(
        self,
        project: str,
        pipeline: str,
        run_id: str,
        state: PipelineRunState | str = PipelineRunState.SUCCEEDED,
        *,
        error: str = "",
        etag: str = "",
        request_id: str | None = None,
    ) -> PipelineRun:
        """End an open pipeline run with SUCCEEDED, FAILED or CANCELLED (again with the same
        state returns it unchanged). SUCCEEDED after a failed step is
        FailedPreconditionError (``.reason == "PIPELINE_STEP_FAILED"``)."""
        name = pr.pipeline_run_name(project, pipeline, run_id)
        request = pr.end_pipeline_run(name, state, error, etag, request_id)
        return pipeline_run(self._rpc.call("EndPipelineRun", request, service=LINEAGE))
