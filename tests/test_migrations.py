"""Schema migrations, each tested by upgrading a database made at the previous
revision with data in it; and the head schema is exactly what tables.py declares."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import asyncpg
import grpc
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection

import modelreg
from modelreg.api.v1 import registry_service_pb2 as rpc
from modelreg.api.v1 import resources_pb2 as pb
from modelreg_server.storage import inference_partitions as partitions
from modelreg_server.storage import migrate
from modelreg_server.storage.database import create_engine
from modelreg_server.storage.tables import Base
from modelreg_server.testing import asyncpg_dsn, fresh_database, running_server
from tests.support import ACTOR

CONFIG = {"z": 1, "a": {"名": "é", "list": [2, 1]}}

# Data as the 0001 server wrote it: a version registered with a request_id, its
# config as jsonb, training data without a role, keys of other mutations.
AT_0001 = f"""
INSERT INTO projects (id, name) VALUES (1, 'legacy');
INSERT INTO models (id, project_id, name, version_count) VALUES (1, 1, 'm', 2);
INSERT INTO model_versions (id, model_id, version, artifact_uri, architecture_config,
    param_list, data_list, labels, request_id, request_hash)
VALUES
  (1, 1, 1, 's3://b/1.pt', '{json.dumps(CONFIG)}', '[["lr", "float", "0.1"]]',
   '[["corpus", "v1", "", "UNSPECIFIED"], ["held", "", "", "TEST"]]', '{{}}', 'reg-1', 'old-hash'),
  (2, 1, 2, 's3://b/2.pt', '{{}}', '[]', '[]', '{{}}', NULL, NULL);
INSERT INTO model_version_params (version_id, key, kind, num_value, text_value)
VALUES (1, 'lr', 'float', 0.1, '0.1');
INSERT INTO model_version_data (version_id, position, dataset, version, batch_id, role)
VALUES (1, 1, 'corpus', 'v1', '', 'UNSPECIFIED'), (1, 2, 'held', '', '', 'TEST');
INSERT INTO aliases (model_id, alias, version_id) VALUES (1, 'old', 2);
INSERT INTO request_log (method, request_id, payload_hash, resource) VALUES
  ('SetVersionState/ARCHIVED', 'arch-1', 'h', '2'),
  ('DeleteAlias', 'del-1', 'h', 'old'),
  ('UpdateProject', 'up-1', 'h', 'legacy');
SELECT setval(pg_get_serial_sequence(t, 'id'), 100)
FROM unnest(ARRAY['projects', 'models', 'model_versions', 'alias_events']) AS t;
"""


async def _upgrade(url: str, target: str) -> None:
    engine = create_engine(url, pool_size=1)
    try:
        await migrate.upgrade(engine, target)
    finally:
        await engine.dispose()


async def _sql(url: str, sql: str) -> list[Any]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        if ";" in sql.strip().rstrip(";"):
            await conn.execute(sql)
            return []
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def upgraded(pg_server_url: str) -> Iterator[str]:
    """A database made at 0001, filled, then upgraded to head."""
    with fresh_database(pg_server_url, migrated=False) as url:
        asyncio.run(_upgrade(url, "0001"))
        asyncio.run(_sql(url, AT_0001))
        asyncio.run(_upgrade(url, "head"))
        yield url


def test_0002_stores_configs_canonically(upgraded: str) -> None:
    rows = asyncio.run(_sql(upgraded, "SELECT version, architecture_config FROM model_versions"))
    configs = {r["version"]: r["architecture_config"] for r in rows}
    canonical = json.dumps(CONFIG, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert configs == {1: canonical, 2: ""}


def test_0002_gives_unset_roles_the_default(upgraded: str) -> None:
    rows = asyncio.run(_sql(upgraded, "SELECT role FROM model_version_data ORDER BY position"))
    assert [r["role"] for r in rows] == ["TRAIN", "TEST"]
    (row,) = asyncio.run(_sql(upgraded, "SELECT data_list FROM model_versions WHERE id = 1"))
    assert [ref[3] for ref in json.loads(row["data_list"])] == ["TRAIN", "TEST"]


def test_0002_moves_registration_keys_to_the_request_log(upgraded: str) -> None:
    sql = "SELECT method, scope, request_id, response IS NULL AS legacy FROM request_log"
    rows = asyncio.run(_sql(upgraded, sql))
    assert {(r["method"], r["scope"], r["request_id"], r["legacy"]) for r in rows} == {
        # Registration keys were per model: they keep their scope.
        ("CreateModelVersion", "projects/legacy/models/m", "reg-1", True),
        # The others were global: kept, but no call's scope reaches them.
        ("ArchiveModelVersion", "", "arch-1", True),
        ("DeleteAlias", "", "del-1", True),
        ("UpdateProject", "", "up-1", True),
    }


def test_upgraded_data_serves_and_legacy_keys_never_duplicate(upgraded: str) -> None:
    with running_server(upgraded) as server, modelreg.Client(server.target) as client:
        stub = client.stub
        got = stub.GetModelVersion(
            rpc.GetModelVersionRequest(name="projects/legacy/models/m/versions/1"), timeout=10
        )
        assert json.loads(got.architecture.config_json) == CONFIG
        assert [r.role for r in got.training_data] == [pb.DATA_ROLE_TRAIN, pb.DATA_ROLE_TEST]
        # A registration retried across the upgrade: refused, never a second version.
        request = rpc.CreateModelVersionRequest(
            parent="projects/legacy/models/m",
            model_version=pb.ModelVersion(artifact=pb.Artifact(uri="s3://b/1.pt")),
            request_id="reg-1",
        )
        with pytest.raises(grpc.RpcError) as info:
            stub.CreateModelVersion(request, timeout=10, metadata=ACTOR)
        assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "cannot be replayed" in (info.value.details() or "")
        model = stub.GetModel(rpc.GetModelRequest(name="projects/legacy/models/m"), timeout=10)
        assert model.version_count == 2
        # New work on the upgraded database.
        v = client.register_model_version("legacy", "m", artifact_uri="s3://b/3.pt")
        assert v.version == 3


def _declared(obj: Any, name: str | None, kind: str, reflected: bool, compare_to: Any) -> bool:
    """Not the daily partitions of inference_records, which the server makes as
    records need them (and the indexes they inherit)."""
    table = obj.table.name if kind == "index" else name if kind == "table" else None
    return table is None or partitions.day_of_name(table) is None


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"include_object": _declared})
    return list(compare_metadata(context, Base.metadata))


async def _schema_diff(url: str) -> list[Any]:
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_diff)
    finally:
        await engine.dispose()


def test_head_schema_is_what_the_tables_declare(upgraded: str) -> None:
    assert asyncio.run(_schema_diff(upgraded)) == []
