"""Retention of inference records (MODELREG_INFERENCE_RETENTION_DAYS) on a server
of its own: at start the upkeep makes today's and tomorrow's partitions, drops the
daily partitions whose records are all older than the retention and the rollups
older than it, and ingest refuses records older than it; one process at a time
does the upkeep. And records and rollups go with their model or project."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import asyncpg
import grpc
import pytest

import modelreg
from modelreg.api.v1 import production_service_pb2_grpc as rpc_grpc
from modelreg_server.config import Settings
from modelreg_server.storage import inference_partitions as parts
from modelreg_server.storage import inference_retention
from modelreg_server.storage.database import create_engine
from modelreg_server.storage.store import Store
from modelreg_server.testing import ServerThread, asyncpg_dsn, fresh_database
from tests.conftest import unique
from tests.inference_support import now, record, write
from tests.support import register, sql

RETENTION_DAYS = 3


def _partitions(database_url: str) -> set[str]:
    return {
        row[0]
        for row in sql(
            database_url,
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'inference_records'::regclass",
        )
    }


def _day(when: datetime) -> int:
    return parts.day_of(int(when.timestamp()) * 1_000_000)


@pytest.fixture(scope="module")
def old_database(pg_server_url: str) -> Iterator[str]:
    """A database with records and rollups 10 and 2 days old, made before any server
    with a retention runs on it."""
    with fresh_database(pg_server_url) as url:
        for age in (10, 2):
            day = _day(now() - timedelta(days=age))
            start, end = parts.day_start(day), parts.day_start(day + 1)
            sql(
                url,
                f"CREATE TABLE {parts.name_of(day)} PARTITION OF inference_records "
                f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')",
            )
            when = start + timedelta(hours=12)
            sql(
                url,
                "INSERT INTO inference_records (record_id, event_time, project_id, model_id, "
                "version) VALUES (gen_random_uuid(), $1, 1, 1, 1)",
                when,
            )
            sql(
                url,
                "INSERT INTO inference_rollups (model_id, hour, version, deployment_id, count) "
                "VALUES (1, $1, 1, 0, 1)",
                when.replace(minute=0, second=0, microsecond=0),
            )
        yield url


@pytest.fixture(scope="module")
def retaining_server(old_database: str) -> Iterator[ServerThread]:
    settings = Settings(
        listen="127.0.0.1:0",
        database_url=old_database,
        inference_retention_days=RETENTION_DAYS,
    )
    server = ServerThread(settings).start()
    try:
        yield server
    finally:
        server.stop()


def _wait_for(check: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the upkeep did not run"
        time.sleep(0.05)


def test_the_upkeep_drops_old_partitions_and_rollups(
    retaining_server: ServerThread, old_database: str
) -> None:
    old, recent = (_day(now() - timedelta(days=a)) for a in (10, 2))
    today = _day(now())
    _wait_for(lambda: parts.name_of(old) not in _partitions(old_database))
    names = _partitions(old_database)
    assert {parts.name_of(d) for d in (recent, today, today + 1)} <= names
    rollup_hours = [r[0] for r in sql(old_database, "SELECT hour FROM inference_rollups")]
    assert len(rollup_hours) == 1
    assert now() - rollup_hours[0] < timedelta(days=RETENTION_DAYS)
    assert sql(old_database, "SELECT count(*) FROM inference_records")[0][0] == 1


def test_records_older_than_the_retention_are_refused(retaining_server: ServerThread) -> None:
    project, model = unique("proj"), unique("m")
    with modelreg.Client(retaining_server.target, actor="tester") as client:
        client.create_project(project)
        register(client, project, model)
    with grpc.insecure_channel(retaining_server.target) as channel:
        stub = rpc_grpc.ProductionServiceStub(channel)
        ack = write(
            stub,
            project,
            [
                record(model, event_time=now() - timedelta(days=RETENTION_DAYS, hours=1)),
                record(model, event_time=now() - timedelta(days=RETENTION_DAYS - 1)),
            ],
        )
    assert ack.accepted == 1
    assert [(e.index, e.field) for e in ack.errors] == [(0, "records[0].event_time")]


async def test_one_process_at_a_time(database_url: str) -> None:
    holder = await asyncpg.connect(asyncpg_dsn(database_url))
    store = Store(create_engine(database_url, pool_size=5))
    try:
        async with holder.transaction():
            await holder.execute(
                "SELECT pg_advisory_xact_lock($1)", inference_retention.MAINTENANCE_LOCK
            )
            assert await inference_retention.maintain(store, 1, datetime.now(timezone.utc)) is None
        done = await inference_retention.maintain(store, 0, datetime.now(timezone.utc))
        assert done is not None and done.dropped == ()
    finally:
        await store.close()
        await holder.close()


# Deletion with the model or project


def _rows(database_url: str, model_ids: list[int]) -> tuple[int, int]:
    return (
        sql(
            database_url,
            "SELECT count(*) FROM inference_records WHERE model_id = ANY($1::bigint[])",
            model_ids,
        )[0][0],
        sql(
            database_url,
            "SELECT count(*) FROM inference_rollups WHERE model_id = ANY($1::bigint[])",
            model_ids,
        )[0][0],
    )


def _model_id(database_url: str, project: str, model: str) -> int:
    return int(
        sql(
            database_url,
            "SELECT m.id FROM models m JOIN projects p ON p.id = m.project_id "
            "WHERE p.name = $1 AND m.name = $2",
            project,
            model,
        )[0][0]
    )


def test_records_go_with_their_model_and_project(
    target: str, database_url: str, sync_client: modelreg.Client, project: str
) -> None:
    models = [unique("m") for _ in range(3)]
    for m in models:
        register(sync_client, project, m)
    ids = [_model_id(database_url, project, m) for m in models]
    with grpc.insecure_channel(target) as channel:
        stub = rpc_grpc.ProductionServiceStub(channel)
        write(stub, project, [record(m, latency_ms=1.0) for m in models for _ in range(3)])
    assert _rows(database_url, ids) == (9, 3)
    sync_client.delete_model(project, models[0], force=True)
    assert _rows(database_url, ids[:1]) == (0, 0)
    assert _rows(database_url, ids[1:]) == (6, 2)
    sync_client.delete_project(project, force=True)
    assert _rows(database_url, ids) == (0, 0)
