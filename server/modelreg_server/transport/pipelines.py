"""LineageService's pipeline methods: parse names, convert, call the pipelines
service object, fill the response."""

from __future__ import annotations

from grpc.aio import ServicerContext as Context

from modelreg.api.v1 import lineage_service_pb2 as rpc
from modelreg.api.v1 import resources_pb2 as pb
from modelreg_server.domain.types import ListQuery
from modelreg_server.service.pipelines import PipelinesService
from modelreg_server.transport import names
from modelreg_server.transport import pipeline_convert as pc
from modelreg_server.transport.metadata import actor


class PipelineMethods:
    _pipelines: PipelinesService

    async def CreatePipelineRun(
        self, request: rpc.CreatePipelineRunRequest, context: Context
    ) -> pb.PipelineRun:
        project, pipeline = pc.pipeline(request.parent)
        r = await self._pipelines.create_pipeline_run(
            project,
            pipeline,
            request.run_id,
            pc.new_pipeline_run(request.pipeline_run),
            actor=actor(context),
            request_id=request.request_id,
        )
        return pc.fill_pipeline_run(pb.PipelineRun(), r)

    async def GetPipelineRun(
        self, request: rpc.GetPipelineRunRequest, context: Context
    ) -> pb.PipelineRun:
        r = await self._pipelines.get_pipeline_run(*pc.pipeline_run(request.name))
        return pc.fill_pipeline_run(pb.PipelineRun(), r)

    async def ListPipelineRuns(
        self, request: rpc.ListPipelineRunsRequest, context: Context
    ) -> rpc.ListPipelineRunsResponse:
        project, pipeline = pc.pipeline(request.parent, list_all=True)
        query = ListQuery(
            page_size=request.page_size,
            page_token=request.page_token,
            filter=request.filter,
            order_by=request.order_by,
        )
        page = await self._pipelines.list_pipeline_runs(project, pipeline, query)
        response = rpc.ListPipelineRunsResponse(next_page_token=page.next_page_token)
        for r in page.items:
            pc.fill_pipeline_run(response.pipeline_runs.add(), r)
        return response

    async def ListPipelines(
        self, request: rpc.ListPipelinesRequest, context: Context
    ) -> rpc.ListPipelinesResponse:
        project = names.project(request.parent, "parent")
        query = ListQuery(page_size=request.page_size, page_token=request.page_token)
        page = await self._pipelines.list_pipelines(project, query)
        response = rpc.ListPipelinesResponse(next_page_token=page.next_page_token)
        for p in page.items:
            pc.fill_pipeline(response.pipelines.add(), p)
        return response

    async def RecordPipelineStep(
        self, request: rpc.RecordPipelineStepRequest, context: Context
    ) -> pb.PipelineRun:
        project, pipeline, run = pc.pipeline_run(request.parent, "parent")
        r = await self._pipelines.record_step(
            project,
            pipeline,
            run,
            request.step_id,
            pc.new_step(request.step),
            request_id=request.request_id,
        )
        return pc.fill_pipeline_run(pb.PipelineRun(), r)

    async def EndPipelineRun(
        self, request: rpc.EndPipelineRunRequest, context: Context
    ) -> pb.PipelineRun:
        project, pipeline, run = pc.pipeline_run(request.name)
        r = await self._pipelines.end_pipeline_run(
            project,
            pipeline,
            run,
            pc.end_state(request.state),
            request.error,
            etag=request.etag,
            request_id=request.request_id,
        )
        return pc.fill_pipeline_run(pb.PipelineRun(), r)
