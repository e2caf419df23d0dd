"""Runs: ``projects/{p}/runs/{run}``, one training iteration each, with params and metric series."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from modelreg import _convert
from modelreg import _requests as req
from modelreg import _tracking_requests as tr
from modelreg._async._active_run import AsyncActiveRun
from modelreg._async._rpc import TRACKING, AsyncPager, AsyncRPC
from modelreg._tracking_types import DataInput, Metric, Run, RunState
from modelreg._types import CodeVersion, ParamValue
from modelreg.api.v1 import tracking_service_pb2 as tracking

# A metric's history in pages of the server's largest size: points are small.
_HISTORY_PAGE = 10_000
# Runs in pages of the server's largest size: a listing is usually read whole (the
# experiment table), and each page is a round trip and a statement on the server.
_RUNS_PAGE = 1_000


class AsyncRuns:
    """The run methods of AsyncClient."""

    _rpc: AsyncRPC

    def start_run(
        self,
        project: str,
        *,
        run_id: str = "",
        experiment: str = "",
        params: Mapping[str, ParamValue] | None = None,
        inputs: Iterable[DataInput] = (),
        code_version: CodeVersion | None = None,
        labels: Mapping[str, str] | None = None,
        description: str = "",
        request_id: str | None = None,
        flush_every_s: float = 1.0,
        max_batch: int = 10_000,
    ) -> AsyncActiveRun:
        """A run to use as a context manager: created on enter, ended on exit (SUCCEEDED,
        or FAILED if the block raises; CANCELLED if it is interrupted).

        Args:
            run_id: ``[a-z][a-z0-9_-]{0,62}``; the server makes ``run_001``, ... if not given.
            experiment: optional name grouping runs, e.g. ``lr-sweep``.
            params: hyperparameters; bool, int, float or str values (more may be added
                with ``run.log_params``; a key keeps its first value).
            inputs: the data the run reads: DatasetVersion objects or their resource
                names (role TRAIN), ``(dataset_version, role)`` pairs, or DataRefs.
                Versions registered from the run are trained on them unless told otherwise.
            flush_every_s: how often buffered metrics are sent.
            max_batch: points per LogRunData call; a full buffer is sent at once.
            request_id: idempotency key of the CreateRun call.

        Example:
            >>> with client.start_run("translate_kr2en", params={"lr": 0.01},
            ...                       inputs=[train]) as run:
            ...     run.log_metrics({"loss": 0.42, "bleu": 31.2}, step=1)
        """
        inputs = tuple(inputs)
        request = tr.create_run(
            project,
            run_id=run_id,
            experiment=experiment,
            params=params,
            inputs=inputs,
            code_version=code_version,
            labels=labels,
            description=description,
            request_id=request_id,
        )
        return AsyncActiveRun(
            self._rpc,
            project,
            request,
            inputs=inputs,
            code_version=code_version,
            flush_every_s=flush_every_s,
            max_batch=max_batch,
        )

    async def get_run(self, project: str, run_id: str) -> Run:
        """One run, with each metric's latest value and the versions it produced."""
        request = tracking.GetRunRequest(name=tr.run_name(project, run_id))
        return _convert.run(await self._rpc.call("GetRun", request, service=TRACKING))

    def list_runs(
        self, project: str, *, filter: str = "", order_by: str = "", page_size: int = 0
    ) -> AsyncPager[Run]:
        """Iterate over a project's runs: the experiment table.

        Args:
            filter: e.g. ``'params.lr < 0.05 AND metrics.bleu >= 30 AND labels.team = "nlp"'``;
                fields: run_id, experiment, state, start_time, end_time, created_by,
                code_commit, params.<key>, metrics.<key> (latest value), labels.<key>,
                input.dataset, input.dataset_version, input.batch_id.
            order_by: ``start_time`` (default) or ``run_id``, optionally `` desc``.
            page_size: runs per call; 1,000 (the server's largest page) when not given.
        """
        request = tracking.ListRunsRequest(
            parent=req.project_name(project),
            filter=filter,
            order_by=order_by,
            page_size=page_size or _RUNS_PAGE,
        )
        return self._rpc.pages("ListRuns", request, "runs", _convert.run, service=TRACKING)

    async def update_run(
        self,
        project: str,
        run_id: str,
        *,
        description: str | None = None,
        labels: Mapping[str, str] | None = None,
        etag: str = "",
        request_id: str | None = None,
    ) -> Run:
        """Change description and/or labels (labels are replaced as a whole)."""
        request = tr.update_run(project, run_id, description, labels, etag, request_id)
        return _convert.run(await self._rpc.call("UpdateRun", request, service=TRACKING))

    async def end_run(
        self,
        project: str,
        run_id: str,
        state: RunState | str = RunState.SUCCEEDED,
        *,
        etag: str = "",
        request_id: str | None = None,
    ) -> Run:
        """End a RUNNING run with SUCCEEDED, FAILED or CANCELLED (ending it again with the
        same state returns it unchanged)."""
        request = tr.end_run(tr.run_name(project, run_id), state, etag, request_id)
        return _convert.run(await self._rpc.call("EndRun", request, service=TRACKING))

    async def log_run_data(
        self,
        project: str,
        run_id: str,
        *,
        metrics: Mapping[str, float] | Iterable[Metric] = (),
        step: int = 0,
        params: Mapping[str, ParamValue] | None = None,
        request_id: str | None = None,
    ) -> None:
        """Append metric points and add params to a RUNNING run in one call, all or nothing.

        The low-level call under ``ActiveRun``: ``metrics`` is a dict (each value a point
        at ``step``) or ``Metric`` points (``time`` None means the server's time). At most
        100,000 points per call.
        """
        request = tr.log_run_data(tr.run_name(project, run_id), metrics, step, params, request_id)
        await self._rpc.call("LogRunData", request, service=TRACKING)

    def metric_history(
        self, project: str, run_id: str, key: str, *, page_size: int = 0
    ) -> AsyncPager[Metric]:
        """Every point of one metric of a run, by step (then in the order logged),
        fetched 10,000 a page unless told."""
        request = tracking.ListMetricHistoryRequest(
            run=tr.run_name(project, run_id), key=key, page_size=page_size or _HISTORY_PAGE
        )
        return self._rpc.pages(
            "ListMetricHistory", request, "metrics", _convert.metric, service=TRACKING
        )
