"""GetLineage over a graph of about 10,000 nodes built through the API
(bench/lineage_graph.py, the graph ``make bench`` times): depth-5 queries return at
most ``max_nodes`` nodes and say they were cut, and small walks match the same walk
done in Python over the edges the builder made.

The module has its own database and server: the graph's inference records make
fifty daily partitions no other test should see."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

import modelreg
from bench.lineage_graph import Built, build
from modelreg.api.v1 import lineage_service_pb2 as rpc
from modelreg.api.v1 import resources_pb2 as pb
from tests.conftest import unique
from tests.support import own_database_and_server

database_url, server, target = own_database_and_server()

UP = rpc.LINEAGE_DIRECTION_UPSTREAM
DOWN = rpc.LINEAGE_DIRECTION_DOWNSTREAM
BOTH = rpc.LINEAGE_DIRECTION_BOTH
Edge = tuple[str, str, str]


@pytest.fixture(scope="module")
def graph(target: str) -> Built:
    with modelreg.Client(target, actor="tester") as c:
        project = unique("big")
        c.create_project(project)
    return asyncio.run(build(target, project))


@pytest.fixture(scope="module")
def lineage(target: str) -> Iterator[Any]:
    with modelreg.Client(target, actor="tester") as c:
        yield c.lineage_stub


def reference(edges: list[Edge], start: str, direction: int, depth: int) -> dict[str, int]:
    """The walk GetLineage does, in Python, without a node limit: name -> distance."""
    toward: dict[bool, dict[str, list[str]]] = {True: defaultdict(list), False: defaultdict(list)}
    for up, down, _ in edges:
        toward[True][down].append(up)
        toward[False][up].append(down)
    ways = [w for w, wanted in ((True, direction != DOWN), (False, direction != UP)) if wanted]
    distance = {start: 0}
    frontier = {w: [start] for w in ways}
    followed = {(start, w) for w in ways}
    for level in range(1, depth + 1):
        nxt: dict[bool, list[str]] = {w: [] for w in ways}
        for w in ways:
            for node in frontier[w]:
                for other in toward[w][node]:
                    distance.setdefault(other, level)
                    if (other, w) not in followed:
                        followed.add((other, w))
                        nxt[w].append(other)
        frontier = nxt
    return distance


def get(stub: Any, resource: str, direction: int, **fields: Any) -> rpc.GetLineageResponse:
    request = rpc.GetLineageRequest(resource=resource, direction=direction, **fields)
    response: rpc.GetLineageResponse = stub.GetLineage(request, timeout=60)
    return response


def distances(response: rpc.GetLineageResponse) -> dict[str, int]:
    return {n.name: n.distance for n in response.nodes}


def wire_edges(response: rpc.GetLineageResponse) -> set[Edge]:
    prefix = len("LINEAGE_EDGE_KIND_")
    return {
        (e.upstream, e.downstream, pb.LineageEdgeKind.Name(e.kind)[prefix:]) for e in response.edges
    }


def test_the_graph_has_ten_thousand_nodes(graph: Built) -> None:
    names = {name for up, down, _ in graph.edges for name in (up, down)}
    assert len(names) == graph.shape.nodes >= 10_000


@pytest.mark.parametrize("max_nodes", [10, 100, 0, 2_500])
def test_depth_5_is_bounded_and_reports_the_cut(lineage: Any, graph: Built, max_nodes: int) -> None:
    start = graph.raws[0]
    full = reference(graph.edges, start, DOWN, 5)
    limit = max_nodes or 1_000
    assert len(full) > limit
    response = get(lineage, start, DOWN, depth=5, max_nodes=max_nodes)
    assert response.truncated and response.max_nodes == limit
    found = distances(response)
    assert len(found) == len(response.nodes) == limit
    # Every node is where the full walk has it, and the nearest come first.
    assert all(full[name] == d for name, d in found.items())
    assert sorted(found.values()) == sorted(full.values())[:limit]
    assert response.nodes[0].name == start
    assert not all(n.expanded for n in response.nodes)
    assert wire_edges(response) <= set(graph.edges)
    for e in response.edges:
        assert e.upstream in found and e.downstream in found


def test_depth_5_within_the_limit_is_the_whole_walk(lineage: Any, graph: Built) -> None:
    start = graph.raws[0]
    full = reference(graph.edges, start, DOWN, 5)
    assert 1_000 < len(full) <= 10_000
    response = get(lineage, start, DOWN, depth=5, max_nodes=10_000)
    assert not response.truncated
    assert distances(response) == full


def _expected_edges(graph: Built, found: dict[str, int], upstream: bool, depth: int) -> set[Edge]:
    """The edges a walk finds: from each node it expanded (nearer than ``depth``)."""
    return {
        (up, down, kind)
        for up, down, kind in graph.edges
        if up in found
        and down in found
        and (found[down] < depth if upstream else found[up] < depth)
    }


@pytest.mark.parametrize(("which", "direction", "depth"), [
    ("raw", DOWN, 2), ("batch", DOWN, 3), ("deployment", UP, 5), ("window", UP, 4),
    ("version", UP, 3), ("version", DOWN, 3),
])  # fmt: skip
def test_small_walks_are_exact(
    lineage: Any, graph: Built, which: str, direction: int, depth: int
) -> None:
    start = {
        "raw": graph.raws[3],
        "batch": graph.batches[500],
        "deployment": graph.deployments[7],
        "window": graph.windows[41],
        "version": graph.versions[1_234],
    }[which]
    full = reference(graph.edges, start, direction, depth)
    response = get(lineage, start, direction, depth=depth, max_nodes=10_000)
    assert not response.truncated
    assert distances(response) == full
    assert wire_edges(response) == _expected_edges(graph, full, direction == UP, depth)
    keys = [(n.distance, n.name) for n in response.nodes]
    assert keys == sorted(keys)
    # Nodes at the depth were not followed; every other was.
    assert {n.name for n in response.nodes if not n.expanded} == {
        name for name, d in full.items() if d == depth
    }


def test_both_ways_at_depth_5(lineage: Any, graph: Built) -> None:
    start = graph.versions[555]
    full = reference(graph.edges, start, BOTH, 5)
    response = get(lineage, start, BOTH, depth=5, max_nodes=10_000)
    assert not response.truncated and distances(response) == full
    assert len(full) > 20
    capped = get(lineage, start, BOTH, depth=5, max_nodes=20)
    assert capped.truncated and len(capped.nodes) == 20
    assert all(full[n.name] == n.distance for n in capped.nodes)


def test_calls_cut_by_their_deadline_leave_the_server_sound(lineage: Any, graph: Built) -> None:
    """Deadlines that expire mid-walk cancel it; the connections it held are not reused
    in an unknown state, so later calls answer in full."""
    request = rpc.GetLineageRequest(
        resource=graph.raws[0], direction=DOWN, depth=5, max_nodes=10_000
    )
    for timeout in (0.002, 0.005, 0.01, 0.02, 0.04) * 4:
        try:
            lineage.GetLineage(request, timeout=timeout)
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED, exc
    full = reference(graph.edges, graph.raws[0], DOWN, 5)
    for _ in range(5):
        assert distances(lineage.GetLineage(request, timeout=60)) == full
