"""Pure conversions of GetLineage: the direction asked for, and the graph filled
into a response in place."""

from __future__ import annotations

from typing import Any

from modelreg.api.v1 import lineage_service_pb2 as rpc
from modelreg.api.v1 import resources_pb2 as pb
from modelreg_server.domain.errors import InvalidArgument
from modelreg_server.domain.graph import Direction, LineageGraph
from modelreg_server.domain.lineage import EdgeKind, Kind
from modelreg_server.transport.convert import EnumMap

DIRECTIONS = EnumMap(Direction, rpc.LineageDirection.DESCRIPTOR, "LINEAGE_DIRECTION_")
EDGE_KINDS = EnumMap(EdgeKind, pb.LineageEdgeKind.DESCRIPTOR, "LINEAGE_EDGE_KIND_")
KINDS = EnumMap(Kind, pb.ResourceKind.DESCRIPTOR, "RESOURCE_KIND_")
_EDGE_NUMBER: dict[Any, Any] = dict(EDGE_KINDS.to_pb)
_KIND_NUMBER: dict[Any, Any] = dict(KINDS.to_pb)
_BATCH: Any = pb.RESOURCE_KIND_BATCH


def direction(number: int, field: str = "direction") -> Direction:
    if number == rpc.LINEAGE_DIRECTION_UNSPECIFIED:
        raise InvalidArgument(field, "required: UPSTREAM, DOWNSTREAM or BOTH")
    member: Direction = DIRECTIONS.parse(number, field)
    return member


def fill_lineage(out: rpc.GetLineageResponse, graph: LineageGraph) -> rpc.GetLineageResponse:
    out.truncated = graph.truncated
    out.max_nodes = graph.max_nodes
    add_node = out.nodes.add
    for node in graph.nodes:
        d = node.described
        n = add_node()
        n.name = d.name
        n.kind = _BATCH if d.batch else _KIND_NUMBER[node.kind]
        n.display_name = d.display_name
        n.distance = node.distance
        n.expanded = node.expanded
        if d.attributes:
            n.attributes.update(d.attributes)
    add_edge = out.edges.add
    for edge in graph.edges:
        e = add_edge()
        e.upstream = edge.upstream
        e.downstream = edge.downstream
        e.kind = _EDGE_NUMBER[edge.kind]
        e.role = edge.role
    return out
