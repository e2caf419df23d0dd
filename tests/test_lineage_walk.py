"""The lineage walk at the storage level: ``lineage_walk.reaches``, the cycle
check pipelines run at write time, on a small graph built through the API."""

from __future__ import annotations

from datetime import date

import pytest

import modelreg
from modelreg_server.domain.errors import FailedPrecondition
from modelreg_server.domain.lineage import Kind, NodeKey
from modelreg_server.storage import lineage_walk
from modelreg_server.storage.store import Store
from tests.support import sql


def _key(database_url: str, kind: Kind, query: str, *args: object) -> NodeKey:
    return NodeKey(kind, sql(database_url, query, *args)[0][0])


def _dv(database_url: str, project: str, dataset: str, version: str) -> NodeKey:
    return _key(
        database_url,
        Kind.DATASET_VERSION,
        "SELECT v.id FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id"
        " JOIN projects p ON p.id = d.project_id"
        " WHERE p.name = $1 AND d.name = $2 AND v.version = $3",
        project,
        dataset,
        version,
    )


def _mv(database_url: str, project: str, model: str, n: int) -> NodeKey:
    return _key(
        database_url,
        Kind.MODEL_VERSION,
        "SELECT v.id FROM model_versions v JOIN models m ON m.id = v.model_id"
        " JOIN projects p ON p.id = m.project_id"
        " WHERE p.name = $1 AND m.name = $2 AND v.version = $3",
        project,
        model,
        n,
    )


@pytest.fixture
def chain(sync_client: modelreg.Client, project: str, database_url: str) -> dict[str, NodeKey]:
    """raw -> clean (DERIVED) -> v1 (TRAINED) -> v2 (FINE_TUNED), and an unrelated
    dataset version ``other``."""
    c = sync_client
    raw = c.create_dataset_version(project, "raw", uri="s3://d/raw", version="r1")
    clean = c.create_dataset_version(
        project, "clean", uri="s3://d/clean", version="c1", parents=[raw]
    )
    c.create_dataset_version(project, "other", uri="s3://d/other", version="o1")
    v1 = c.register_model_version(project, "m", artifact_uri="s3://m/1", training_data=[clean])
    c.register_model_version(project, "m", artifact_uri="s3://m/2", parent_version=v1.resource_name)
    return {
        "raw": _dv(database_url, project, "raw", "r1"),
        "clean": _dv(database_url, project, "clean", "c1"),
        "other": _dv(database_url, project, "other", "o1"),
        "v1": _mv(database_url, project, "m", 1),
        "v2": _mv(database_url, project, "m", 2),
    }


async def test_reaches_walks_either_way(store: Store, chain: dict[str, NodeKey]) -> None:
    async with store.write() as conn:
        up = await lineage_walk.reaches(conn, [chain["v2"]], [chain["other"], chain["raw"]])
        assert up == chain["raw"]
        down = await lineage_walk.reaches(conn, [chain["raw"]], [chain["v2"]], upstream=False)
        assert down == chain["v2"]
        # Not that way round, and not to something unrelated.
        assert await lineage_walk.reaches(conn, [chain["raw"]], [chain["v2"]]) is None
        assert await lineage_walk.reaches(conn, [chain["v2"]], [chain["other"]]) is None


async def test_reaches_counts_the_starts(store: Store, chain: dict[str, NodeKey]) -> None:
    async with store.read() as conn:
        found = await lineage_walk.reaches(conn, [chain["other"], chain["v1"]], [chain["v1"]])
        assert found == chain["v1"]
        assert await lineage_walk.reaches(conn, [chain["v1"]], []) is None


async def test_reaches_stops_at_its_limit(store: Store, chain: dict[str, NodeKey]) -> None:
    async with store.write() as conn:
        with pytest.raises(FailedPrecondition) as caught:
            await lineage_walk.reaches(conn, [chain["v2"]], [chain["other"]], limit=2)
        assert caught.value.reason == "LINEAGE_TOO_LARGE"
        # Within the limit, the same walk ends without an answer.
        assert await lineage_walk.reaches(conn, [chain["v2"]], [chain["other"]], limit=4) is None


async def test_every_edge_statement_runs(store: Store) -> None:
    """Each kind's statements, both ways, on ids that match nothing."""
    day = date(2024, 11, 6)
    nodes = [
        lineage_walk.key_of(NodeKey(k, 0, day if k is Kind.INFERENCE_WINDOW else None))
        for k in Kind
    ]
    async with lineage_walk.snapshot(store) as conn:
        raw = await lineage_walk.driver(conn)
        assert raw.is_in_transaction()
        assert await raw.fetchval("SHOW transaction_isolation") == "repeatable read"
        assert await raw.fetchval("SHOW transaction_read_only") == "on"
        for upstream in (True, False):
            assert await lineage_walk.neighbours(raw, nodes, upstream) == []


async def test_the_snapshot_leaves_pooled_connections_as_they_were(store: Store) -> None:
    """Its connection goes back to the engine's pool read-write, READ COMMITTED."""
    for _ in range(3):  # more than the pool's connections
        async with lineage_walk.snapshot(store) as conn:
            assert (await conn.exec_driver_sql("SHOW transaction_read_only")).scalar() == "on"
    for _ in range(3):
        async with store.write() as conn:
            read_only = (await conn.exec_driver_sql("SHOW transaction_read_only")).scalar()
            isolation = (await conn.exec_driver_sql("SHOW transaction_isolation")).scalar()
            assert (read_only, isolation) == ("off", "read committed")
