"""TrackingService's servicer: parse names, convert, call the tracking family's
service objects, fill the response."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

from grpc.aio import ServicerContext as Context

from modelreg.api.v1 import resources_pb2 as pb
from modelreg.api.v1 import tracking_service_pb2 as rpc
from modelreg.api.v1 import tracking_service_pb2_grpc as rpc_grpc
from modelreg_server.domain.datasets import Goal, RankQuery
from modelreg_server.domain.errors import InvalidArgument
from modelreg_server.domain.runs import Run
from modelreg_server.domain.types import ListQuery
from modelreg_server.service.tracking import Tracking
from modelreg_server.transport import names, tracking_convert
from modelreg_server.transport.metadata import actor

_EDITABLE = "description, labels"
_GOALS: dict[int, Goal] = {rpc.GOAL_MAXIMIZE: Goal.MAXIMIZE, rpc.GOAL_MINIMIZE: Goal.MINIMIZE}


def _goal(number: int) -> Goal:
    goal = _GOALS.get(number)
    if goal is None:
        raise InvalidArgument("goal", "required: GOAL_MAXIMIZE or GOAL_MINIMIZE")
    return goal


def _rank_parent(parent: str) -> tuple[str, str]:
    """`projects/{p}/models/{m}` or `projects/{p}`: (project, model or "")."""
    if "/models/" in parent:
        return names.model(parent, "parent")
    return names.project(parent, "parent"), ""


class TrackingServicer(rpc_grpc.TrackingServiceServicer):
    def __init__(self, tracking: Tracking) -> None:
        self._datasets = tracking.datasets
        self._runs = tracking.runs
        self._evaluations = tracking.evaluations

    # Datasets

    async def CreateDatasetVersion(
        self, request: rpc.CreateDatasetVersionRequest, context: Context
    ) -> pb.DatasetVersion:
        project, dataset = names.dataset(request.parent, "parent")
        if dataset == "-":
            raise InvalidArgument("parent", "name one dataset, not `-`")
        v = await self._datasets.create_dataset_version(
            project,
            dataset,
            request.version_id,
            tracking_convert.new_dataset_version(request.dataset_version),
            actor=actor(context),
            request_id=request.request_id,
        )
        return tracking_convert.fill_dataset_version(pb.DatasetVersion(), v)

    async def GetDatasetVersion(
        self, request: rpc.GetDatasetVersionRequest, context: Context
    ) -> pb.DatasetVersion:
        v = await self._datasets.get_dataset_version(
            tracking_convert.dataset_version_ref(request.name, "name")
        )
        return tracking_convert.fill_dataset_version(pb.DatasetVersion(), v)

    async def ListDatasetVersions(
        self, request: rpc.ListDatasetVersionsRequest, context: Context
    ) -> rpc.ListDatasetVersionsResponse:
        project, dataset = names.dataset(request.parent, "parent")
        query = ListQuery(
            page_size=request.page_size, page_token=request.page_token, filter=request.filter
        )
        page = await self._datasets.list_dataset_versions(project, dataset, query)
        response = rpc.ListDatasetVersionsResponse(next_page_token=page.next_page_token)
        for v in page.items:
            tracking_convert.fill_dataset_version(response.dataset_versions.add(), v)
        return response

    async def GetDataset(self, request: rpc.GetDatasetRequest, context: Context) -> pb.Dataset:
        project, dataset = names.dataset(request.name, "name")
        if dataset == "-":
            raise InvalidArgument("name", "name one dataset, not `-`")
        d = await self._datasets.get_dataset(project, dataset)
        return tracking_convert.fill_dataset(pb.Dataset(), d)

    async def ListDatasets(
        self, request: rpc.ListDatasetsRequest, context: Context
    ) -> rpc.ListDatasetsResponse:
        project = names.project(request.parent, "parent")
        query = ListQuery(page_size=request.page_size, page_token=request.page_token)
        page = await self._datasets.list_datasets(project, query)
        response = rpc.ListDatasetsResponse(next_page_token=page.next_page_token)
        for d in page.items:
            tracking_convert.fill_dataset(response.datasets.add(), d)
        return response

    # Runs

    async def CreateRun(self, request: rpc.CreateRunRequest, context: Context) -> pb.Run:
        r = await self._runs.create_run(
            names.project(request.parent, "parent"),
            request.run_id,
            tracking_convert.new_run(request.run),
            actor=actor(context),
            request_id=request.request_id,
        )
        return tracking_convert.fill_run(pb.Run(), r)

    async def GetRun(self, request: rpc.GetRunRequest, context: Context) -> pb.Run:
        r = await self._runs.get_run(*names.run(request.name))
        return tracking_convert.fill_run(pb.Run(), r)

    async def ListRuns(
        self, request: rpc.ListRunsRequest, context: Context
    ) -> rpc.ListRunsResponse:
        query = ListQuery(
            page_size=request.page_size,
            page_token=request.page_token,
            filter=request.filter,
            order_by=request.order_by,
        )
        response = rpc.ListRunsResponse()
        add, fill = response.runs.add, tracking_convert.fill_run

        def take(chunk: Sequence[Run]) -> None:
            for r in chunk:
                fill(add(), r)

        project = names.project(request.parent, "parent")
        response.next_page_token = await self._runs.list_runs(project, query, take)
        return response

    async def UpdateRun(self, request: rpc.UpdateRunRequest, context: Context) -> pb.Run:
        run = request.run
        paths = list(request.update_mask.paths)
        if not paths:
            raise InvalidArgument("update_mask", f"required; updatable paths: {_EDITABLE}")
        for path in paths:
            if path not in ("description", "labels"):
                raise InvalidArgument(
                    "update_mask", f"cannot update {path!r}; updatable paths: {_EDITABLE}"
                )
        r = await self._runs.update_run(
            *names.run(run.name, "run.name"),
            description=run.description if "description" in paths else None,
            labels=dict(run.labels) if "labels" in paths else None,
            etag=run.etag,
            request_id=request.request_id,
        )
        return tracking_convert.fill_run(pb.Run(), r)

    async def LogRunData(
        self, request: rpc.LogRunDataRequest, context: Context
    ) -> rpc.LogRunDataResponse:
        project, run = names.run(request.run, "run")
        data = tracking_convert.run_data(request, datetime.now(timezone.utc))
        logged = await self._runs.log_run_data(project, run, data, request_id=request.request_id)
        return rpc.LogRunDataResponse(
            metrics_logged=logged["metrics_logged"], params_logged=logged["params_logged"]
        )

    async def EndRun(self, request: rpc.EndRunRequest, context: Context) -> pb.Run:
        r = await self._runs.end_run(
            *names.run(request.name),
            tracking_convert.RUN_STATES.parse(request.state, "state"),
            tracking_convert.run_data(request, datetime.now(timezone.utc)),
            etag=request.etag,
            request_id=request.request_id,
        )
        return tracking_convert.fill_run(pb.Run(), r)

    async def ListMetricHistory(
        self, request: rpc.ListMetricHistoryRequest, context: Context
    ) -> rpc.ListMetricHistoryResponse:
        query = ListQuery(page_size=request.page_size, page_token=request.page_token)
        page = await self._runs.metric_history(*names.run(request.run, "run"), request.key, query)
        response = rpc.ListMetricHistoryResponse(next_page_token=page.next_page_token)
        add = response.metrics.add
        for point in page.items:
            tracking_convert.fill_metric(add(), point)
        return response

    # Evaluations, compare and rank

    async def CreateEvaluation(
        self, request: rpc.CreateEvaluationRequest, context: Context
    ) -> pb.Evaluation:
        e = await self._evaluations.create_evaluation(
            names.version(request.parent, "parent"),
            request.evaluation_id,
            tracking_convert.new_evaluation(request.evaluation),
            actor=actor(context),
            request_id=request.request_id,
        )
        return tracking_convert.fill_evaluation(pb.Evaluation(), e)

    async def GetEvaluation(
        self, request: rpc.GetEvaluationRequest, context: Context
    ) -> pb.Evaluation:
        e = await self._evaluations.get_evaluation(*names.evaluation(request.name))
        return tracking_convert.fill_evaluation(pb.Evaluation(), e)

    async def ListEvaluations(
        self, request: rpc.ListEvaluationsRequest, context: Context
    ) -> rpc.ListEvaluationsResponse:
        query = ListQuery(page_size=request.page_size, page_token=request.page_token)
        page = await self._evaluations.list_evaluations(
            names.version(request.parent, "parent"), query
        )
        response = rpc.ListEvaluationsResponse(next_page_token=page.next_page_token)
        for e in page.items:
            tracking_convert.fill_evaluation(response.evaluations.add(), e)
        return response

    async def CompareModelVersions(
        self, request: rpc.CompareModelVersionsRequest, context: Context
    ) -> rpc.CompareModelVersionsResponse:
        project, model = names.model(request.parent, "parent")
        comparison = await self._evaluations.compare(project, model, list(request.versions))
        return tracking_convert.fill_comparison(rpc.CompareModelVersionsResponse(), comparison)

    async def RankModelVersions(
        self, request: rpc.RankModelVersionsRequest, context: Context
    ) -> rpc.RankModelVersionsResponse:
        project, model = _rank_parent(request.parent)
        if not request.dataset_version:
            raise InvalidArgument("dataset_version", "required")
        query = RankQuery(
            project=project,
            model=model,
            metric=request.metric,
            dataset_version=tracking_convert.dataset_version_ref(
                request.dataset_version, "dataset_version"
            ),
            slice=request.slice,
            goal=_goal(request.goal),
            filter=request.filter,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        page, first = await self._evaluations.rank(query)
        response = rpc.RankModelVersionsResponse(next_page_token=page.next_page_token)
        add = response.ranked.add
        for i, r in enumerate(page.items):
            tracking_convert.fill_ranked(add(), r, first + i)
        return response
