"""A lineage graph laid out for inline SVG: columns by depth, what a resource came from
on the left, the resource in the middle, what came of it on the right.

Pure layout (no I/O): ``layout`` takes the answers of ``client.lineage`` upstream and
downstream and places every node in a column (``-distance`` upstream, ``+distance``
downstream), ordered in its column by where its neighbours nearer the middle are, so
edges cross little. The template ``versions/_graph.html`` draws it.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import modelreg
from modelreg_ui.web import href

NODE_W = 200
NODE_H = 40
COLUMN_W = 250
ROW_H = 54
MARGIN = 12
# Room above the first row for the arcs of edges that skip a column.
TOP = 36
# Room on the left for the loops of edges within a column.
X_MARGIN = 48
LABEL_CHARS = 28
# Nodes drawn at most in one graph (each direction asks the API for this many).
DEFAULT_MAX_NODES = 80
MAX_NODES = 500


@dataclass(frozen=True)
class PlacedNode:
    name: str
    kind: str
    label: str
    detail: str
    href: str
    title: str
    column: int
    x: float
    y: float
    focus: bool
    expanded: bool


@dataclass(frozen=True)
class PlacedEdge:
    upstream: str
    downstream: str
    kind: str
    role: str
    path: str


@dataclass(frozen=True)
class GraphLayout:
    """Everything the template draws; ``columns`` (depth, nodes) is the list fallback."""

    root: modelreg.LineageNode
    nodes: tuple[PlacedNode, ...]
    edges: tuple[PlacedEdge, ...]
    columns: tuple[tuple[int, tuple[PlacedNode, ...]], ...]
    width: float
    height: float
    truncated: bool
    dropped: int
    node_w: int = NODE_W
    node_h: int = NODE_H

    def node(self, name: str) -> PlacedNode:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)


async def fetch(
    client: modelreg.AsyncClient,
    resource: str,
    *,
    direction: modelreg.LineageDirection,
    depth: int,
    max_nodes: int = DEFAULT_MAX_NODES,
) -> GraphLayout:
    """The lineage of ``resource`` one way or both (one call each way), laid out."""
    D = modelreg.LineageDirection
    ways = [D.UPSTREAM, D.DOWNSTREAM] if direction is D.BOTH else [direction]
    graphs = await asyncio.gather(
        *(client.lineage(resource, direction=w, depth=depth, max_nodes=max_nodes) for w in ways)
    )
    by_way = dict(zip(ways, graphs, strict=True))
    return layout(by_way.get(D.UPSTREAM), by_way.get(D.DOWNSTREAM), max_nodes=max_nodes)


def layout(
    upstream: modelreg.LineageGraph | None,
    downstream: modelreg.LineageGraph | None,
    *,
    max_nodes: int = DEFAULT_MAX_NODES,
) -> GraphLayout:
    graphs = [g for g in (upstream, downstream) if g is not None]
    if not graphs:
        raise ValueError("no lineage graph to lay out")
    root = graphs[0].root
    column: dict[str, int] = {root.name: 0}
    nodes: dict[str, modelreg.LineageNode] = {root.name: root}
    for graph, sign in ((upstream, -1), (downstream, 1)):
        for n in graph.nodes if graph else ():
            if n.name not in column:
                column[n.name] = sign * n.distance
                nodes[n.name] = n
    # Over the cap: the farthest go first.
    order = sorted(nodes, key=lambda name: (abs(column[name]), column[name]))
    kept = set(order[:max_nodes])
    dropped = len(nodes) - len(kept)
    edges = _edges(graphs, kept)

    layers = _layers(root.name, {n: column[n] for n in kept}, edges)
    rows = _order_columns(root.name, layers, edges)
    tallest = max(len(names) for names in rows.values())
    low = min(rows)
    placed: dict[str, PlacedNode] = {}
    for col, names in rows.items():
        offset = (tallest - len(names)) * ROW_H / 2
        for i, name in enumerate(names):
            placed[name] = _place(
                nodes[name],
                col,
                x=X_MARGIN + (col - low) * COLUMN_W,
                y=TOP + offset + i * ROW_H,
                focus=name == root.name,
            )
    drawn = tuple(
        PlacedEdge(
            e.upstream,
            e.downstream,
            e.kind.value,
            e.role,
            _path(placed[e.upstream], placed[e.downstream]),
        )
        for e in edges
    )
    columns = tuple((col, tuple(placed[n] for n in names)) for col, names in sorted(rows.items()))
    return GraphLayout(
        root=root,
        nodes=tuple(placed[n] for _, names in sorted(rows.items()) for n in names),
        edges=drawn,
        columns=columns,
        width=X_MARGIN + MARGIN + (max(rows) - low) * COLUMN_W + NODE_W,
        height=TOP + MARGIN + tallest * ROW_H,
        truncated=any(g.truncated for g in graphs) or dropped > 0,
        dropped=dropped,
    )


def _edges(graphs: Iterable[modelreg.LineageGraph], kept: set[str]) -> list[modelreg.LineageEdge]:
    seen: set[tuple[str, str, str]] = set()
    out: list[modelreg.LineageEdge] = []
    for graph in graphs:
        for e in graph.edges:
            key = (e.upstream, e.downstream, e.kind.value)
            if key in seen or e.upstream not in kept or e.downstream not in kept:
                continue
            seen.add(key)
            out.append(e)
    return out


def _layers(root: str, column: dict[str, int], edges: list[modelreg.LineageEdge]) -> dict[str, int]:
    """Columns by the longest path to the root rather than the shortest (a dataset a run
    read, and a version trained on both, goes left of the run), so that edges within a
    side point the same way; nodes keep their side."""
    col = dict(column)
    side = {name: (c > 0) - (c < 0) for name, c in column.items()}
    for _ in range(len(col)):
        changed = False
        for e in edges:
            up, down = e.upstream, e.downstream
            if side[up] < 0 and side[down] <= 0 and col[up] > col[down] - 1:
                col[up] = col[down] - 1
                changed = True
            if side[down] > 0 and side[up] >= 0 and col[down] < col[up] + 1:
                col[down] = col[up] + 1
                changed = True
        if not changed:
            break
    return col


def _order_columns(
    root: str, column: dict[str, int], edges: list[modelreg.LineageEdge]
) -> dict[int, list[str]]:
    """Names by column, each column ordered by the mean row of its neighbours in the
    column next to it towards the middle (the barycentre heuristic, one sweep out)."""
    neighbours: dict[str, set[str]] = defaultdict(set)
    for e in edges:
        neighbours[e.upstream].add(e.downstream)
        neighbours[e.downstream].add(e.upstream)
    by_column: dict[int, list[str]] = defaultdict(list)
    for name, col in column.items():
        by_column[col].append(name)
    row: dict[str, float] = {root: 0.0}
    rows: dict[int, list[str]] = {0: [root]}
    for col in sorted((c for c in by_column if c), key=lambda c: (abs(c), c)):
        inner = col - 1 if col > 0 else col + 1

        def weight(name: str, inner: int = inner) -> tuple[float, str]:
            near = [row[m] for m in neighbours[name] if column.get(m) == inner and m in row]
            return (sum(near) / len(near) if near else float("inf"), name)

        names = sorted(by_column[col], key=weight)
        rows[col] = names
        for i, name in enumerate(names):
            row[name] = float(i)
    return dict(sorted(rows.items()))


def _place(node: modelreg.LineageNode, col: int, *, x: float, y: float, focus: bool) -> PlacedNode:
    label = node.display_name or node.name.rsplit("/", 1)[-1]
    if len(label) > LABEL_CHARS:
        label = label[: LABEL_CHARS - 1] + "…"
    kind = node.kind.value.lower().replace("_", " ")
    facts = [f"{k}: {v}" for k, v in sorted(node.attributes.items())]
    return PlacedNode(
        name=node.name,
        kind=node.kind.value,
        label=label,
        detail=kind if node.expanded else f"{kind} · more",
        href=href(node.name),
        title="\n".join([node.name, *facts]),
        column=col,
        x=x,
        y=y,
        focus=focus,
        expanded=node.expanded,
    )


def _path(up: PlacedNode, down: PlacedNode) -> str:
    """A curve from the upstream node's right side to the downstream node's left side,
    arched over the columns it skips (else it would run behind their nodes); between
    nodes of one column (or right to left), a loop out on their left."""
    y1, y2 = up.y + NODE_H / 2, down.y + NODE_H / 2
    if down.column > up.column:
        x1, x2 = up.x + NODE_W, down.x - 4
        skipped = down.column - up.column - 1
        if skipped:
            lift = ROW_H * min(0.6 + 0.3 * skipped, 1.2)
            return (
                f"M{x1:.0f},{y1:.0f} C{x1 + 60:.0f},{y1 - lift:.0f} "
                f"{x2 - 60:.0f},{y2 - lift:.0f} {x2:.0f},{y2:.0f}"
            )
        mid = (x1 + x2) / 2
        return f"M{x1:.0f},{y1:.0f} C{mid:.0f},{y1:.0f} {mid:.0f},{y2:.0f} {x2:.0f},{y2:.0f}"
    x1, x2 = up.x, down.x - 4
    bend = min(x1, x2) - 40
    return f"M{x1:.0f},{y1:.0f} C{bend:.0f},{y1:.0f} {bend:.0f},{y2:.0f} {x2:.0f},{y2:.0f}"
