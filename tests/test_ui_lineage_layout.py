"""The lineage graph's layout (modelreg_ui/pages/lineage_graph.py), on graphs made by
hand: columns by the longest path to the resource, each side keeping its side, rows
ordered after the neighbours nearer the middle, the node cap (nearest kept), and edge
paths that never start or end inside a node."""

from __future__ import annotations

import re

import pytest

from modelreg import LineageEdge, LineageEdgeKind, LineageGraph, LineageNode, ResourceKind
from modelreg_ui.pages import lineage_graph
from modelreg_ui.pages.lineage_graph import NODE_H, NODE_W, layout

P = "projects/p"
DS = f"{P}/datasets/d/versions/v1"
RUN = f"{P}/runs/r1"
V1 = f"{P}/models/m/versions/1"
V2 = f"{P}/models/m/versions/2"
V3 = f"{P}/models/m/versions/3"
DEP = f"{P}/deployments/web"
KIND = {
    "datasets": ResourceKind.DATASET_VERSION,
    "runs": ResourceKind.RUN,
    "models": ResourceKind.MODEL_VERSION,
    "deployments": ResourceKind.DEPLOYMENT,
}


def node(name: str, distance: int, expanded: bool = True) -> LineageNode:
    kind = KIND[name.split("/")[2]]
    return LineageNode(name, kind, name.rsplit("/", 1)[-1], distance, expanded, {"k": "v"})


def edge(up: str, down: str, kind: LineageEdgeKind) -> LineageEdge:
    return LineageEdge(up, down, kind, "")


def graph(
    nodes: list[LineageNode], edges: list[LineageEdge], truncated: bool = False
) -> LineageGraph:
    return LineageGraph(tuple(nodes), tuple(edges), truncated, 1000)


# v2 upstream: the dataset (trained on, and read by the run), the run, the parent v1.
UP = graph(
    [node(V2, 0), node(DS, 1), node(RUN, 1), node(V1, 1, expanded=False)],
    [
        edge(DS, V2, LineageEdgeKind.TRAINED),
        edge(DS, RUN, LineageEdgeKind.INPUT),
        edge(RUN, V2, LineageEdgeKind.PRODUCED),
        edge(V1, V2, LineageEdgeKind.FINE_TUNED),
    ],
)
# v2 downstream: v3 fine-tuned from it, the deployment serving both.
DOWN = graph(
    [node(V2, 0), node(V3, 1), node(DEP, 1)],
    [
        edge(V2, V3, LineageEdgeKind.FINE_TUNED),
        edge(V2, DEP, LineageEdgeKind.SERVED),
        edge(V3, DEP, LineageEdgeKind.SERVED),
    ],
)


def columns(laid: lineage_graph.GraphLayout) -> dict[str, int]:
    return {n.name: n.column for n in laid.nodes}


def test_columns_by_the_longest_path_each_side() -> None:
    laid = layout(UP, DOWN)
    assert laid.root.name == V2
    # The dataset is one edge from v2, but two through the run: left of the run.
    assert columns(laid) == {DS: -2, RUN: -1, V1: -1, V2: 0, V3: 1, DEP: 2}
    assert [c for c, _ in laid.columns] == [-2, -1, 0, 1, 2]
    assert not laid.truncated and laid.dropped == 0
    focus = [n.name for n in laid.nodes if n.focus]
    assert focus == [V2]
    # Nodes in a column share an x; columns go left to right.
    xs = {n.column: n.x for n in laid.nodes}
    assert all(n.x == xs[n.column] for n in laid.nodes)
    assert [xs[c] for c in sorted(xs)] == sorted(xs.values())
    assert laid.width >= max(n.x for n in laid.nodes) + NODE_W
    assert laid.height >= max(n.y for n in laid.nodes) + NODE_H


def test_one_way_only() -> None:
    up = layout(UP, None)
    assert set(columns(up)) == {DS, RUN, V1, V2} and max(columns(up).values()) == 0
    down = layout(None, DOWN)
    assert columns(down) == {V2: 0, V3: 1, DEP: 2}
    with pytest.raises(ValueError):
        layout(None, None)


def test_nodes_are_links_with_what_they_are() -> None:
    laid = layout(UP, DOWN)
    by_name = {n.name: n for n in laid.nodes}
    assert by_name[DS].href == f"/lineage/{DS}"
    assert by_name[RUN].href == f"/{RUN}"
    assert by_name[V3].href == f"/{V3}"
    assert by_name[DEP].href == f"/{DEP}"
    assert by_name[RUN].detail == "run" and by_name[DS].detail == "dataset version"
    # Where the walk stopped, the node says there is more.
    assert by_name[V1].detail == "model version · more" and not by_name[V1].expanded
    assert by_name[DS].title == f"{DS}\nk: v"


def test_long_labels_are_cut() -> None:
    long = f"{P}/runs/" + "r" * 60
    g = graph([node(long, 0)], [])
    (only,) = layout(g, None).nodes
    assert len(only.label) == lineage_graph.LABEL_CHARS and only.label.endswith("…")


def test_rows_follow_the_neighbours_nearer_the_middle() -> None:
    # Two versions downstream, each with its own deployment: the deployments keep
    # their versions' order whatever order the API gave them in.
    a, b = f"{P}/models/m/versions/8", f"{P}/models/m/versions/9"
    da, db = f"{P}/deployments/zz", f"{P}/deployments/aa"
    g = graph(
        [node(V2, 0), node(a, 1), node(b, 1), node(da, 2), node(db, 2)],
        [
            edge(V2, a, LineageEdgeKind.FINE_TUNED),
            edge(V2, b, LineageEdgeKind.FINE_TUNED),
            edge(a, da, LineageEdgeKind.SERVED),
            edge(b, db, LineageEdgeKind.SERVED),
        ],
    )
    laid = layout(None, g)
    rows = {c: [n.name for n in nodes] for c, nodes in laid.columns}
    assert rows[1] == [a, b] and rows[2] == [da, db]


def test_the_node_cap_keeps_the_nearest() -> None:
    laid = layout(UP, DOWN, max_nodes=4)
    assert laid.truncated and laid.dropped == 2
    kept = set(columns(laid))
    assert V2 in kept and len(kept) == 4
    # Only nodes one edge away besides the root; every edge drawn joins two kept nodes.
    assert all(abs(n.column) <= 2 for n in laid.nodes)
    assert all(e.upstream in kept and e.downstream in kept for e in laid.edges)
    # The API's own cut is said too.
    assert layout(graph(list(UP.nodes), list(UP.edges), truncated=True), None).truncated


def test_edges_start_and_end_on_node_sides() -> None:
    laid = layout(UP, DOWN)
    by_name = {n.name: n for n in laid.nodes}
    assert len(laid.edges) == len(UP.edges) + len(DOWN.edges)
    for e in laid.edges:
        up, down = by_name[e.upstream], by_name[e.downstream]
        numbers = [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?", e.path)]
        (x1, y1), (x2, y2) = numbers[:2], numbers[-2:]
        assert up.y <= y1 <= up.y + NODE_H and down.y <= y2 <= down.y + NODE_H
        assert x1 == pytest.approx(up.x + NODE_W)  # out of the right side
        assert x2 == pytest.approx(down.x - 4)  # into the left side, before the arrow
    # The dataset -> v2 edge skips the run's column: it arches (its control points rise).
    skip = next(e for e in laid.edges if (e.upstream, e.downstream) == (DS, V2))
    ys = [float(y) for y in re.findall(r",(-?\d+)", skip.path)]
    assert min(ys[1:3]) < min(ys[0], ys[3])
