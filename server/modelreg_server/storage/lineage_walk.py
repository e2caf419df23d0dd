"""Walking the lineage graph: level by level (breadth first), one statement per
node kind per level (storage/lineage_edges.py), on the driver connection under
the caller's SQLAlchemy connection, so a walk sees the caller's transaction.

``reaches`` answers "is any of these upstream (or downstream) of those" for the
cycle check at write time; ``walk`` collects the graph around one node for
GetLineage, to a depth and a node limit, in the snapshot ``snapshot`` opens."""

from __future__ import annotations

import asyncio
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

# Inside a walk a node is a plain tuple (kind value, id, day): hashing and
# comparing one costs a fraction of a NodeKey's (a dataclass holding an enum),
# and a walk of 1,000 nodes hashes tens of thousands of them.
Key = tuple[str, int, date | None]
# A step from ``src`` to its neighbour ``dst``: (edge kind value, src, dst, role).
Hop = tuple[str, Key, Key, str]

_KINDS = {k.value: k for k in Kind}
_EDGES = {e.value: e for e in EdgeKind}
_WINDOW = Kind.INFERENCE_WINDOW.value


def key_of(node: NodeKey) -> Key:
    return (node.kind.value, node.id, node.day)


def node_of(key: Key) -> NodeKey:
    return NodeKey(_KINDS[key[0]], key[1], key[2])


def kind_of(key: Key) -> Kind:
    return _KINDS[key[0]]


def edge_kind(value: str) -> EdgeKind:
    return _EDGES[value]


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
            except (
                asyncio.CancelledError,
                TimeoutError,
                OSError,
                asyncpg.InterfaceError,
                asyncpg.PostgresConnectionError,
            ):
                # Cancelled or broken under the raw driver, unseen by SQLAlchemy: its
                # state is unknown, so it is closed, never reused (as Store.hot does).
                await conn.invalidate()
                raise


async def neighbours(raw: RawConn, nodes: Iterable[Key], upstream: bool) -> list[Hop]:
    """Every edge from ``nodes`` in one direction: one statement per kind."""
    by_kind: dict[str, list[Key]] = defaultdict(list)
    for node in nodes:
        by_kind[node[0]].append(node)
    hops: list[Hop] = []
    append = hops.append
    for kind in sorted(by_kind):
        sql = lineage_edges.statement(_KINDS[kind], upstream)
        if sql is None:
            continue
        keys = by_kind[kind]
        args: list[Any] = [[k[1] for k in keys]]
        if kind == _WINDOW:
            args.append([k[2] for k in keys])
        # Rows: (edge, src_id, src_day, dst_kind, dst_id, dst_day, role).
        for edge, src_id, src_day, dst_kind, dst_id, dst_day, role in await raw.fetch(sql, *args):
            append((edge, (kind, src_id, src_day), (dst_kind, dst_id, dst_day), role))
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
    wanted = {key_of(t) for t in targets}
    seen: set[Key] = set()
    frontier: list[Key] = []
    for start in map(key_of, starts):
        if start in wanted:
            return node_of(start)
        if start not in seen:
            seen.add(start)
            frontier.append(start)
    if not wanted:
        return None
    raw = await driver(conn)
    while frontier:
        found: list[Key] = []
        for _, _, dst, _ in await neighbours(raw, frontier, upstream):
            if dst in seen:
                continue
            if dst in wanted:
                return node_of(dst)
            seen.add(dst)
            found.append(dst)
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
    direction asked for, the edges (upstream end, downstream end, edge kind value,
    role) in the order found, and whether the node limit cut the walk."""

    distance: dict[Key, int] = field(default_factory=dict)
    unexpanded: set[Key] = field(default_factory=set)
    edges: dict[tuple[Key, Key, str, str], None] = field(default_factory=dict)
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
    kind, then id, then day) are kept, the walk stops, and the nodes that had a
    neighbour cut are marked unexpanded, as are the nodes of the last level."""
    first = key_of(start)
    out = Walked(distance={first: 0})
    distance, edges, unexpanded = out.distance, out.edges, out.unexpanded
    ways = [way for way, wanted in ((True, upstream), (False, downstream)) if wanted]
    frontier: dict[bool, list[Key]] = {way: [first] for way in ways}
    followed: set[tuple[Key, bool]] = {(first, way) for way in ways}
    for level in range(1, depth + 1):
        found = {way: await neighbours(raw, frontier[way], way) for way in ways if frontier[way]}
        new = {hop[2] for hops in found.values() for hop in hops} - distance.keys()
        room = max(0, max_nodes - len(distance))
        if len(new) > room:
            out.truncated = True
            # Keys of one kind hold ids (and days) alike, so tuples compare as they are.
            new = set(sorted(new)[:room])
        for node in new:
            distance[node] = level
        frontier = {way: [] for way in ways}
        for way, hops in found.items():
            nxt = frontier[way]
            for edge, src, dst, role in hops:
                if dst not in distance:
                    unexpanded.add(src)  # a neighbour was cut
                    continue
                edges[(dst, src, edge, role) if way else (src, dst, edge, role)] = None
                if (dst, way) not in followed:
                    followed.add((dst, way))
                    nxt.append(dst)
        if out.truncated or not any(frontier.values()):
            break
    for nodes in frontier.values():
        unexpanded.update(nodes)
    return out
