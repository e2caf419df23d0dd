"""The lineage graph: GetLineage's checks, and one walk in one read-only
snapshot (resolve the resource, walk, describe the nodes found)."""

from __future__ import annotations

from collections.abc import Mapping

from modelreg_server.domain import errors
from modelreg_server.domain.graph import (
    DEFAULT_DEPTH,
    DEFAULT_MAX_NODES,
    MAX_DEPTH,
    MAX_MAX_NODES,
    Described,
    Direction,
    GraphEdge,
    GraphNode,
    LineageGraph,
)
from modelreg_server.storage import lineage_nodes, lineage_refs, lineage_walk
from modelreg_server.storage.store import Store


def depth_of(depth: int) -> int:
    """0 means the default; 1 to 10 otherwise."""
    if depth == 0:
        return DEFAULT_DEPTH
    if not 1 <= depth <= MAX_DEPTH:
        raise errors.InvalidArgument("depth", f"must be 1 to {MAX_DEPTH} (0 for {DEFAULT_DEPTH})")
    return depth


def max_nodes_of(max_nodes: int) -> int:
    """0 means the default; above the maximum means the maximum."""
    if max_nodes < 0:
        raise errors.InvalidArgument("max_nodes", "must not be negative")
    return min(max_nodes or DEFAULT_MAX_NODES, MAX_MAX_NODES)


def _graph(
    walked: lineage_walk.Walked, described: Mapping[lineage_walk.Key, Described], max_nodes: int
) -> LineageGraph:
    """The nodes that still exist, by distance then name, and the edges between them."""
    unexpanded = walked.unexpanded
    nodes = [
        GraphNode(lineage_walk.kind_of(key), d, distance, key not in unexpanded)
        for key, distance in walked.distance.items()
        if (d := described.get(key)) is not None
    ]
    nodes.sort(key=lambda n: (n.distance, n.described.name))
    edges = [
        GraphEdge(described[up].name, described[down].name, lineage_walk.edge_kind(kind), role)
        for up, down, kind, role in walked.edges
        if up in described and down in described
    ]
    edges.sort(key=lambda e: (e.upstream, e.downstream, e.kind.value, e.role))
    return LineageGraph(nodes, edges, walked.truncated, max_nodes)


class GraphService:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def get_lineage(
        self, resource: str, direction: Direction, depth: int = 0, max_nodes: int = 0
    ) -> LineageGraph:
        """The graph around ``resource`` to ``depth`` edges and at most ``max_nodes``
        nodes (0: the defaults), all read in one snapshot."""
        if not resource:
            raise errors.InvalidArgument("resource", "required: the resource name to start from")
        depth = depth_of(depth)
        max_nodes = max_nodes_of(max_nodes)
        async with lineage_walk.snapshot(self._store) as conn:
            start = await lineage_refs.resolve(conn, resource, "resource")
            raw = await lineage_walk.driver(conn)
            walked = await lineage_walk.walk(
                raw,
                start,
                upstream=direction is not Direction.DOWNSTREAM,
                downstream=direction is not Direction.UPSTREAM,
                depth=depth,
                max_nodes=max_nodes,
            )
            described = await lineage_nodes.describe(raw, walked.distance)
        if lineage_walk.key_of(start) not in described:  # resolved: a race with a delete
            raise errors.NotFound("resource", resource)
        return _graph(walked, described, max_nodes)
