"""TrackingService's servicer: parse names, convert, call the tracking family's
service objects, fill the response."""

from __future__ import annotations

from datetime import datetime, timezone

from grpc.aio import ServicerContext as Context

from modelreg.api.v1 import resources_pb2 as pb
from modelreg.api.v1 import tracking_service_pb2 as rpc
from modelreg.api.v1 import tracking_service_pb2_grpc as rpc_grpc
from modelreg_server.domain.errors import InvalidArgument
from modelreg_server.domain.types import ListQuery
from modelreg_server.service.tracking import Tracking
from modelreg_server.transport import convert, names
from modelreg_server.transport.metadata import actor

_EDITABLE = "description, labels"


class TrackingServicer(rpc_grpc.TrackingServiceServicer):
    def __init__(self, tracking: Tracking) -> None:
        self._datasets = tracking.datasets
        self._runs = tracking.runs
        self._evaluations = tracking.evaluations

    # Datasets

    # Runs

    async def CreateRun(self, request: rpc.CreateRunRequest, context: Context) -> pb.Run:
        r = await self._runs.create_run(
            names.project(request.parent, "parent"),
            request.run_id,
            convert.new_run(request.run),
            actor=actor(context),
            request_id=request.request_id,
        )
        return convert.fill_run(pb.Run(), r)

    async def GetRun(self, request: rpc.GetRunRequest, context: Context) -> pb.Run:
        r = await self._runs.get_run(*names.run(request.name))
        return convert.fill_run(pb.Run(), r)

    async def ListRuns(
        self, request: rpc.ListRunsRequest, context: Context
    ) -> rpc.ListRunsResponse:
        query = ListQuery(
            page_size=request.page_size,
            page_token=request.page_token,
            filter=request.filter,
            order_by=request.order_by,
        )
        page = await self._runs.list_runs(names.project(request.parent, "parent"), query)
        response = rpc.ListRunsResponse(next_page_token=page.next_page_token)
        add = response.runs.add
        for r in page.items:
            convert.fill_run(add(), r)
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
        return convert.fill_run(pb.Run(), r)

    async def LogRunData(
        self, request: rpc.LogRunDataRequest, context: Context
    ) -> rpc.LogRunDataResponse:
        project, run = names.run(request.run, "run")
        data = convert.run_data(request, datetime.now(timezone.utc))
        logged = await self._runs.log_run_data(project, run, data, request_id=request.request_id)
        return rpc.LogRunDataResponse(
            metrics_logged=logged["metrics_logged"], params_logged=logged["params_logged"]
        )

    async def EndRun(self, request: rpc.EndRunRequest, context: Context) -> pb.Run:
        r = await self._runs.end_run(
            *names.run(request.name),
            convert.RUN_STATES.parse(request.state, "state"),
            convert.run_data(request, datetime.now(timezone.utc)),
            etag=request.etag,
            request_id=request.request_id,
        )
        return convert.fill_run(pb.Run(), r)

    async def ListMetricHistory(
        self, request: rpc.ListMetricHistoryRequest, context: Context
    ) -> rpc.ListMetricHistoryResponse:
        query = ListQuery(page_size=request.page_size, page_token=request.page_token)
        page = await self._runs.metric_history(*names.run(request.run, "run"), request.key, query)
        response = rpc.ListMetricHistoryResponse(next_page_token=page.next_page_token)
        add = response.metrics.add
        for point in page.items:
            convert.fill_metric(add(), point)
        return response

    # Evaluations, compare and rank
