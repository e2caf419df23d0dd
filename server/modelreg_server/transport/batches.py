"""LineageService's batch methods: parse names, call the batches service object,
fill the response."""

from __future__ import annotations

from grpc.aio import ServicerContext as Context

from modelreg.api.v1 import lineage_service_pb2 as rpc
from modelreg_server.domain.types import ListQuery
from modelreg_server.service.batches import BatchesService
from modelreg_server.transport import batch_convert as bc
from modelreg_server.transport import metadata, names


class BatchMethods:
    _batches: BatchesService

    async def ListBatches(
        self, request: rpc.ListBatchesRequest, context: Context
    ) -> rpc.ListBatchesResponse:
        project = names.project(request.parent, "parent")
        query = ListQuery(page_size=request.page_size, page_token=request.page_token)
        page = await self._batches.list_batches(project, request.dataset, query)
        response = rpc.ListBatchesResponse(next_page_token=page.next_page_token)
        add = response.batches.add
        for r in page.items:
            bc.fill_batch(add(), r)
        return response

    async def ListVersionsTrainedOn(
        self, request: rpc.ListVersionsTrainedOnRequest, context: Context
    ) -> rpc.ListVersionsTrainedOnResponse:
        page = await self._batches.versions_trained_on(bc.trained_on_query(request))
        response = rpc.ListVersionsTrainedOnResponse(next_page_token=page.next_page_token)
        for r in page.items:
            item = bc.fill_trained(rpc.TrainedVersion(), r)
            if metadata.visible(item.model_version.name):  # other projects' versions: not shown
                response.versions.append(item)
        return response

    async def ListBatchesBehindVersion(
        self, request: rpc.ListBatchesBehindVersionRequest, context: Context
    ) -> rpc.ListBatchesBehindVersionResponse:
        ref = names.version(request.name, "name")
        rows, truncated = await self._batches.batches_behind(ref, request.direct_only)
        response = rpc.ListBatchesBehindVersionResponse(truncated=truncated)
        for r in rows:
            item = bc.fill_behind(rpc.BatchBehind(), r)
            if metadata.visible(item.dataset_version.name):
                response.batches.append(item)
        return response

    async def GetBatchMetricSeries(
        self, request: rpc.GetBatchMetricSeriesRequest, context: Context
    ) -> rpc.GetBatchMetricSeriesResponse:
        points = await self._batches.metric_series(bc.series_query(request))
        response = rpc.GetBatchMetricSeriesResponse()
        for r in points:
            item = bc.fill_point(rpc.BatchMetricPoint(), r)
            if metadata.visible(item.dataset_version):
                response.points.append(item)
        return response
