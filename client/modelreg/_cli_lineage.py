"""The ``modelreg lineage`` command (the lineage graph around a resource, as a tree) and
the ``modelreg batches`` commands (batch learning); their handlers and what they print.

    modelreg lineage projects/screen_clean/deployments/prod --depth 6
    modelreg lineage projects/screen_clean/datasets/clicks/versions/b1 --downstream
    modelreg batches list screen_clean --dataset clicks
    modelreg batches versions screen_clean 2024-11-06
    modelreg batches behind projects/screen_clean/models/detector/versions/production
    modelreg batches series screen_clean detector auc \\
        --dataset-version projects/screen_clean/datasets/holdout/versions/v1
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from modelreg import _cli_format as fmt
from modelreg._lineage_types import (
    Batch,
    BatchBehind,
    BatchMetricPoint,
    LineageDirection,
    LineageEdge,
    LineageGraph,
    LineageNode,
    TrainedVersion,
)
from modelreg._sync import Client

# cli._parser's helper: cmd(subparsers, name, help, handler, positionals, columns) -> parser.
Cmd = Callable[..., argparse.ArgumentParser]


def short(name: str) -> str:
    """A dataset version as ``dataset/version``, a model version as ``model_vN``; any
    other name as it is."""
    parts = name.split("/")
    if len(parts) == 6 and parts[2] == "datasets":
        return f"{parts[3]}/{parts[5]}"
    if len(parts) == 6 and parts[2] == "models":
        return f"{parts[3]}_v{parts[5]}"
    return name


# The tree


def _edge_label(edge: LineageEdge) -> str:
    return f"{edge.kind.value}({edge.role})" if edge.role else edge.kind.value


def tree(graph: LineageGraph, direction: LineageDirection) -> str:
    """The graph as a tree from the resource: one line per node, indented by its distance,
    under the first node one edge nearer (a node reached several ways is shown once):
    ``<edge kind> <kind> <display name> (<name>)``; then a line if the walk was cut."""
    by_name = {n.name: n for n in graph.nodes}
    order = {n.name: i for i, n in enumerate(graph.nodes)}
    parent: dict[str, tuple[str, LineageEdge]] = {}
    for edge in graph.edges:
        ends = []
        if direction is not LineageDirection.DOWNSTREAM:  # walked from downstream to upstream
            ends.append((edge.downstream, edge.upstream))
        if direction is not LineageDirection.UPSTREAM:
            ends.append((edge.upstream, edge.downstream))
        for near, far in ends:
            a, b = by_name.get(near), by_name.get(far)
            if a is None or b is None or b.distance != a.distance + 1:
                continue
            known = parent.get(far)
            if known is None or order[near] < order[known[0]]:
                parent[far] = (near, edge)
    children: dict[str, list[LineageNode]] = {}
    for node in graph.nodes[1:]:
        if node.name in parent:
            children.setdefault(parent[node.name][0], []).append(node)
    lines: list[str] = []
    shown: set[str] = set()

    def walk(node: LineageNode, label: str) -> None:
        shown.add(node.name)
        text = f"{node.kind.value} {node.display_name} ({node.name})"
        lines.append("  " * node.distance + (f"{label} {text}" if label else text))
        for child in children.get(node.name, []):
            walk(child, _edge_label(parent[child.name][1]))

    if graph.nodes:
        walk(graph.nodes[0], "")
    for node in graph.nodes:  # none, unless an edge is missing: shown all the same
        if node.name not in shown:
            walk(node, "?")
    if graph.truncated:
        unexpanded = sum(1 for n in graph.nodes if not n.expanded)
        lines.append(
            f"truncated: the node limit ({graph.max_nodes}) was reached; {unexpanded} nodes "
            "were not followed (ask again from one of them, or raise --max-nodes)"
        )
    return "\n".join(lines)


# Tables

BATCH_COLUMNS: list[fmt.Column] = [
    ("BATCH", lambda b: b.batch_id),
    ("DATASET_VERSION", lambda b: short(b.resource_name)),
    ("START", lambda b: fmt.when(b.data_start_time) if b.data_start_time else "-"),
    ("END", lambda b: fmt.when(b.data_end_time) if b.data_end_time else "-"),
    ("VERSIONS", lambda b: str(b.model_version_count)),
]
TRAINED_COLUMNS: list[fmt.Column] = [
    ("VERSION", lambda t: t.model_version.display_name),
    ("STATE", lambda t: t.model_version.state.value),
    ("BATCH", lambda t: short(t.dataset_version)),
    ("ROLE", lambda t: t.role.value),
    ("GEN", lambda t: str(t.generations)),
    ("VIA", lambda t: short(t.via) if t.via else "-"),
]
BEHIND_COLUMNS: list[fmt.Column] = [
    ("DATASET_VERSION", lambda b: short(b.resource_name)),
    ("BATCH", lambda b: b.batch_id or "-"),
    ("ROLE", lambda b: b.role.value),
    ("TRAINED_BY", lambda b: short(b.model_version)),
    ("GEN", lambda b: str(b.generations)),
]
SERIES_COLUMNS: list[fmt.Column] = [
    ("BATCH", lambda p: p.batch_id),
    ("START", lambda p: fmt.when(p.data_start_time) if p.data_start_time else "-"),
    ("DATASET_VERSION", lambda p: short(p.dataset_version)),
    ("VERSION", lambda p: str(p.version)),
    ("VALUE", lambda p: "-" if p.value is None else f"{p.value:.6g}"),
]


# Handlers


def _direction(a: argparse.Namespace) -> LineageDirection:
    return LineageDirection(a.direction)


def _lineage(c: Client, a: argparse.Namespace) -> LineageGraph:
    return c.lineage(a.resource, direction=_direction(a), depth=a.depth, max_nodes=a.max_nodes)


def _render_tree(graph: LineageGraph, a: argparse.Namespace) -> str:
    return tree(graph, _direction(a))


def _batches_list(c: Client, a: argparse.Namespace) -> list[Batch]:
    return list(c.list_batches(a.project, a.dataset))


def _batches_versions(c: Client, a: argparse.Namespace) -> list[TrainedVersion]:
    if a.batch_id.startswith("projects/"):  # a dataset version's name
        return c.versions_trained_on(a.project, dataset_version=a.batch_id, direct_only=a.direct)
    return c.versions_trained_on(a.project, a.batch_id, direct_only=a.direct)


def _batches_behind(c: Client, a: argparse.Namespace) -> list[BatchBehind]:
    return c.batches_behind(a.version_name, direct_only=a.direct)


def _batches_series(c: Client, a: argparse.Namespace) -> list[BatchMetricPoint]:
    return c.batch_metric_series(
        a.project, a.model, a.metric, dataset=a.dataset_version, slice=a.slice
    )


# The parser


def _direct(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--direct", action="store_true", help=what)


def add_commands(groups: Any, group: Callable[[str, str], Any], cmd: Cmd) -> None:
    """The ``lineage`` command and the ``batches`` group."""
    p = cmd(
        groups,
        "lineage",
        "the lineage around a resource, as a tree: what it came from, or what came of it",
        _lineage,
        "resource",
    )
    p.set_defaults(render=_render_tree, direction=LineageDirection.UPSTREAM.value)
    way = p.add_mutually_exclusive_group()
    for flag, value, what in [
        ("--upstream", LineageDirection.UPSTREAM, "what it came from (the default)"),
        ("--downstream", LineageDirection.DOWNSTREAM, "what came of it"),
        ("--both", LineageDirection.BOTH, "both ways"),
    ]:
        way.add_argument(flag, dest="direction", action="store_const", const=value.value, help=what)
    p.add_argument("--depth", type=int, default=3, help="edges to follow, 1-10 (default 3)")
    p.add_argument(
        "--max-nodes", type=int, default=1000, help="nodes at most, up to 10000 (default 1000)"
    )

    sub = group("batches", "batch learning: data batches and the versions that learned from them")
    p = cmd(sub, "list", "a project's data batches, by data time", _batches_list, "project",
            BATCH_COLUMNS)  # fmt: skip
    p.add_argument("--dataset", help="only this dataset's batches")
    p = cmd(
        sub,
        "versions",
        "the versions that learned from a batch (BATCH_ID, or a dataset version's name)",
        _batches_versions,
        "project batch_id",
        TRAINED_COLUMNS,
    )
    _direct(p, "only versions with the batch in their own training data")
    p = cmd(
        sub,
        "behind",
        "the dataset versions behind a version, through the versions it was fine-tuned from",
        _batches_behind,
        "version_name",
        BEHIND_COLUMNS,
    )
    _direct(p, "only the version's own training data")
    p = cmd(
        sub,
        "series",
        "a metric of a model's versions, from batch to batch",
        _batches_series,
        "project model metric",
        SERIES_COLUMNS,
    )
    p.add_argument(
        "--dataset-version",
        metavar="NAME",
        help="from each version's latest evaluation on this dataset version "
        "(default: from its source run's metrics)",
    )
    p.add_argument("--slice", default="", help="with --dataset-version: the evaluation slice")
