"""Walking the lineage graph: level by level (breadth first), one statement per
node kind per level (storage/lineage_edges.py), on the driver connection under
the caller's SQLAlchemy connection, so a walk sees the caller's transaction.

``reaches`` answers "is any of these upstream (or downstream) of those" for the
cycle check at write time; ``walk`` collects the graph around one node for
GetLineage, to a depth and a node limit, in the snapshot ``snapshot`` opens."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Collection, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import asyncpg

from modelreg_server.domain import errors
from modelreg_server.domain.lineage import EdgeKind, Kind, NodeKey
from modelreg_server.storage import lineage_edges
from modelreg_server.storage.store import Conn, RawConn, Store, translate_errors

# Nodes of a kind in the order statements list them, so walks are deterministic.
_KIND_ORDER = {k: i for i, k in enumerate(Kind)}


def _order(key: NodeKey) -> tuple[int, int, date]:
    return (_KIND_ORDER[key.kind], key.id, key.day or date.min)


@dataclass(frozen=True)
class Hop:
    """An edge found by walking from ``src`` to its neighbour ``dst``."""

    edge: EdgeKind
    src: NodeKey
    dst: NodeKey
    role: str


async def driver(conn: Conn) -> RawConn:
    """The asyncpg connection under ``conn``, inside ``conn``'s transaction: the
    SQLAlchemy driver begins one lazily, at its first statement."""
    raw: Any = (await conn.get_raw_connection()).driver_connection
    if conn.in_transaction() and not raw.is_in_transaction():
        await conn.exec_driver_sql("SELECT 1")
    return raw


@asynccontextmanager
async def snapshot(store: Store) -> AsyncIterator[Conn]:
    """A read-only REPEATABLE READ transaction: every statement of a walk sees the
    same graph."""
    with translate_errors():
        async with store.engine.connect() as base:
            conn = await base.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
            try:
                async with conn.begin():
                    yield conn
            except (OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError):
                # Broken under the raw driver, unseen by SQLAlchemy: not reused.
                await conn.invalidate()
                raise


async def neighbours(raw: RawConn, nodes: Iterable[NodeKey], upstream: bool) -> list[Hop]:
    """Every edge from ``nodes`` in one direction: one statement per kind."""
    by_kind: dict[Kind, list[NodeKey]] = defaultdict(list)
    for node in nodes:
        by_kind[node.kind].append(node)
    hops: list[Hop] = []
    for kind in sorted(by_kind, key=_KIND_ORDER.__getitem__):
        sql = lineage_edges.statement(kind, upstream)
        if sql is None:
            continue
        keys = by_kind[kind]
        args: list[Any] = [[k.id for k in keys]]
        if kind is Kind.INFERENCE_WINDOW:
            args.append([k.day for k in keys])
        for row in await raw.fetch(sql, *args):
            hops.append(
                Hop(
                    EdgeKind(row["edge"]),
                    NodeKey(kind, row["src_id"], row["src_day"]),
                    NodeKey(Kind(row["dst_kind"]), row["dst_id"], row["dst_day"]),
                    row["role"],
                )
            )
    return hops


async def reaches(
    conn: Conn,
    starts: Sequence[NodeKey],
    targets: Collection[NodeKey],
    upstream: bool = True,
    limit: int = 100_000,
) -> NodeKey | None:
    """The first of ``targets`` found walking from ``starts`` (which count) in one
    direction, in the caller's transaction; None if none is. FailedPrecondition
    (reason ``LINEAGE_TOO_LARGE``) when the walk passes ``limit`` nodes."""
    wanted = set(targets)
    seen: set[NodeKey] = set()
    frontier: list[NodeKey] = []
    for start in starts:
        if start in wanted:
            return start
        if start not in seen:
            seen.add(start)
            frontier.append(start)
    if not wanted:
        return None
    raw = await driver(conn)
    while frontier:
        found: list[NodeKey] = []
        for hop in await neighbours(raw, frontier, upstream):
            if hop.dst in seen:
                continue
            if hop.dst in wanted:
                return hop.dst
            seen.add(hop.dst)
            found.append(hop.dst)
            if len(seen) > limit:
                raise errors.FailedPrecondition(
                    f"the lineage to check has more than {limit} nodes",
                    reason="LINEAGE_TOO_LARGE",
                    metadata={"limit": str(limit)},
                )
        frontier = found
    return None


@dataclass
class Walked:
    """What a walk found: each node's distance, the nodes not followed in a
    direction asked for, the edges (upstream end, downstream end, kind, role) in
    the order found, and whether the node limit cut the walk."""

    distance: dict[NodeKey, int] = field(default_factory=dict)
    unexpanded: set[NodeKey] = field(default_factory=set)
    edges: dict[tuple[NodeKey, NodeKey, EdgeKind, str], None] = field(default_factory=dict)
    truncated: bool = False


async def walk(
    raw: RawConn,
    start: NodeKey,
    *,
    upstream: bool,
    downstream: bool,
    depth: int,
    max_nodes: int,
) -> Walked:
    """Breadth first from ``start`` up to ``depth`` edges, upstream, downstream or
    both (each path keeps its direction), keeping at most ``max_nodes`` nodes.

    When a level finds more new nodes than there is room for, the first ones (by
    kind, then id) are kept, the walk stops, and the nodes that had a neighbour
    cut are marked unexpanded, as are the nodes of the last level."""
    out = Walked(distance={start: 0})
    ways = [way for way, wanted in ((True, upstream), (False, downstream)) if wanted]
    frontier: dict[bool, list[NodeKey]] = {way: [start] for way in ways}
    followed: set[tuple[NodeKey, bool]] = {(start, way) for way in ways}
    for level in range(1, depth + 1):
        hops: list[tuple[bool, Hop]] = []
        for way in ways:
            if frontier[way]:
                hops.extend((way, hop) for hop in await neighbours(raw, frontier[way], way))
        new = sorted({h.dst for _, h in hops if h.dst not in out.distance}, key=_order)
        room = max(0, max_nodes - len(out.distance))
        if len(new) > room:
            out.truncated = True
            new = new[:room]
        for node in new:
            out.distance[node] = level
        nxt: dict[bool, list[NodeKey]] = {way: [] for way in ways}
        for way, hop in hops:
            if hop.dst not in out.distance:
                out.unexpanded.add(hop.src)  # a neighbour was cut
                continue
            up, down = (hop.dst, hop.src) if way else (hop.src, hop.dst)
            out.edges[(up, down, hop.edge, hop.role)] = None
            if (hop.dst, way) not in followed:
                followed.add((hop.dst, way))
                nxt[way].append(hop.dst)
        frontier = nxt
        if out.truncated or not any(frontier.values()):
            break
    for nodes in frontier.values():
        out.unexpanded.update(nodes)
    return out
