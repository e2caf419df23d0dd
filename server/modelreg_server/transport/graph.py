"""LineageService's graph method: GetLineage."""

from __future__ import annotations

from dataclasses import replace

from grpc.aio import ServicerContext as Context

from modelreg.api.v1 import lineage_service_pb2 as rpc
from modelreg_server.service.graph import GraphService
from modelreg_server.transport import graph_convert as gc
from modelreg_server.transport import metadata


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
        hidden = {n.described.name for n in graph.nodes if not metadata.visible(n.described.name)}
        if hidden:  # a project's key does not see other projects' resources
            graph = replace(
                graph,
                nodes=[n for n in graph.nodes if n.described.name not in hidden],
                edges=[
                    e
                    for e in graph.edges
                    if e.upstream not in hidden and e.downstream not in hidden
                ],
            )
        return gc.fill_lineage(rpc.GetLineageResponse(), graph)
