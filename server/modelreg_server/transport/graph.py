"""LineageService's graph method: GetLineage."""

from __future__ import annotations

from grpc.aio import ServicerContext as Context

from modelreg.api.v1 import lineage_service_pb2 as rpc
from modelreg_server.service.graph import GraphService
from modelreg_server.transport import graph_convert as gc


class GraphMethods:
    _graph: GraphService

    async def GetLineage(
        self, request: rpc.GetLineageRequest, context: Context
    ) -> rpc.GetLineageResponse:
        graph = await self._graph.get_lineage(
            request.resource,
            gc.direction(request.direction),
            request.depth,
            request.max_nodes,
        )
        return gc.fill_lineage(rpc.GetLineageResponse(), graph)
