"""Domain types of the lineage graph GetLineage returns: which way to walk, the
nodes (resources, described) and the typed edges between them."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from modelreg_server.domain.lineage import EdgeKind, Kind

DEFAULT_DEPTH = 3
MAX_DEPTH = 10
DEFAULT_MAX_NODES = 1_000
MAX_MAX_NODES = 10_000


class Direction(enum.Enum):
    """Which way a walk goes: toward what a resource came from, what came of it,
    or both (each path keeps one direction)."""

    UPSTREAM = "UPSTREAM"
    DOWNSTREAM = "DOWNSTREAM"
    BOTH = "BOTH"


@dataclass(frozen=True)
class Described:
    """What a node is, read from its row: resource name, whether a dataset version
    is a batch, a short label and a few facts."""

    name: str
    display_name: str
    attributes: Mapping[str, str] = field(default_factory=dict)
    batch: bool = False


@dataclass(frozen=True)
class GraphNode:
    kind: Kind
    described: Described
    distance: int
    expanded: bool


@dataclass(frozen=True)
class GraphEdge:
    """From the upstream end (what was used) to the downstream end, by name."""

    upstream: str
    downstream: str
    kind: EdgeKind
    role: str


@dataclass(frozen=True)
class LineageGraph:
    """Nodes by distance then name (the resource first), the edges between them,
    whether the node limit cut the walk, and the limit that applied."""

    nodes: Sequence[GraphNode]
    edges: Sequence[GraphEdge]
    truncated: bool
    max_nodes: int
