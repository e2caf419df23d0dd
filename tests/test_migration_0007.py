"""Migration 0007 (api keys), tested by upgrading a database made at 0006 with data
in it: two projects with a model, versions, an alias, a dataset version, a run, a
pipeline run and a recorded request id. After `modelreg db upgrade` every row is
still there, the schema is the one the tables declare, ``api_keys`` is empty with
its index and checks, and a server on the upgraded database makes keys for the
projects it held (deleted with their project)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator

import asyncpg
import pytest

import modelreg
from modelreg_server.storage import migrate
from modelreg_server.testing import fresh_database, running_server
from tests.test_migrations import _schema_diff, _sql, _upgrade

AT_0006 = """
INSERT INTO projects (id, name, description) VALUES (7001, 'shop', 'the shop'), (7002, 'old', '');
INSERT INTO models (id, project_id, name, version_count) VALUES (7001, 7001, 'ranker', 2);
INSERT INTO model_versions (id, model_id, version, state, artifact_uri, created_by)
VALUES (7001, 7001, 1, 'READY', 's3://m/1.pt', 'alice'),
       (7002, 7001, 2, 'READY', 's3://m/2.pt', 'bob');
INSERT INTO aliases (model_id, alias, version_id, updated_by)
VALUES (7001, 'production', 7002, 'bob');
INSERT INTO datasets (id, project_id, name, version_count) VALUES (7001, 7001, 'clicks', 1);
INSERT INTO dataset_versions (id, dataset_id, version, uri, batch_id, created_by)
VALUES (7001, 7001, 'b1', 's3://d/b1', '2024-11-06', 'alice');
INSERT INTO runs (id, project_id, name, state, created_by)
VALUES (7001, 7001, 'run_001', 'RUNNING', 'alice');
INSERT INTO pipelines (id, project_id, name, run_count) VALUES (7001, 7001, 'nightly', 1);
INSERT INTO pipeline_runs (id, pipeline_id, project_id, name, created_by)
VALUES (7001, 7001, 7001, 'run_001', 'alice');
INSERT INTO request_log (method, scope, request_id, payload_hash)
VALUES ('CreateRun', 'projects/shop', 'r-1', 'abc');
SELECT setval(pg_get_serial_sequence(t, 'id'), 8000)
FROM unnest(ARRAY['projects', 'models', 'model_versions', 'datasets', 'dataset_versions',
    'runs', 'pipelines', 'pipeline_runs']) AS t;
"""
TABLES = (
    "projects", "models", "model_versions", "aliases", "datasets", "dataset_versions", "runs",
    "pipelines", "pipeline_runs", "request_log",
)  # fmt: skip


def _counts(url: str) -> dict[str, int]:
    query = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM {t}" for t in TABLES)
    return {row[0]: row[1] for row in asyncio.run(_sql(url, query))}


@pytest.fixture(scope="module")
def upgraded(pg_server_url: str) -> Iterator[tuple[str, dict[str, int]]]:
    """A database made at 0006 and filled, then upgraded by `modelreg db upgrade`; and
    the row counts before the upgrade."""
    with fresh_database(pg_server_url, migrated=False) as url:
        asyncio.run(_upgrade(url, "0006"))
        asyncio.run(_sql(url, AT_0006))
        before = _counts(url)
        done = subprocess.run(
            [sys.executable, "-m", "modelreg.cli", "db", "upgrade", "--database-url", url],
            capture_output=True,
            text=True,
            timeout=120,
            env={k: v for k, v in os.environ.items() if not k.startswith("MODELREG_")},
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"schema: 0006 -> {migrate.head_revision()}"
        yield url, before


def test_the_upgrade_keeps_every_row_and_makes_the_table_declared(
    upgraded: tuple[str, dict[str, int]],
) -> None:
    url, before = upgraded
    assert before["model_versions"] == 2 and before["pipeline_runs"] == 1
    assert _counts(url) == before
    assert asyncio.run(_schema_diff(url)) == []
    assert asyncio.run(_sql(url, "SELECT count(*) FROM api_keys"))[0][0] == 0
    indexes = asyncio.run(
        _sql(url, "SELECT indexname FROM pg_indexes WHERE tablename = 'api_keys'")
    )
    assert {"pk_api_keys", "ix_api_keys_project_create_time"} <= {r[0] for r in indexes}


@pytest.mark.parametrize(
    ("values", "check"),
    [
        ("'k1', 'h', NULL, 'writer', 'o'", "ck_api_keys_server_admin_has_no_project"),
        ("'k2', 'h', 7001, 'server_admin', 'o'", "ck_api_keys_server_admin_has_no_project"),
        ("'k3', 'h', 7001, 'owner', 'o'", "ck_api_keys_role_known"),
    ],
)
def test_the_checks_hold(upgraded: tuple[str, dict[str, int]], values: str, check: str) -> None:
    columns = "key_id, secret_hash, project_id, role, owner"
    insert = f"INSERT INTO api_keys ({columns}) VALUES ({values})"
    with pytest.raises(asyncpg.CheckViolationError) as caught:
        asyncio.run(_sql(upgraded[0], f"{insert};"))
    assert caught.value.constraint_name == check


def test_the_upgraded_database_keeps_keys_of_its_projects(
    upgraded: tuple[str, dict[str, int]],
) -> None:
    url = upgraded[0]
    with running_server(url) as server, modelreg.Client(server.target, actor="ops") as client:
        shop = client.create_api_key("shop", role="writer").key
        old = client.create_api_key("old", role="reader").key
        admin = client.create_api_key(role="server-admin").key
        assert [k.key_id for k in client.list_api_keys("shop")] == [shop.key_id]
        assert [k.key_id for k in client.list_api_keys()] == [admin.key_id]
        client.delete_project("old")
        with pytest.raises(modelreg.NotFoundError):
            client.get_api_key(old)
        assert client.get_api_key(shop).project == "shop"
    rows = asyncio.run(_sql(url, "SELECT key_id FROM api_keys ORDER BY key_id"))
    assert sorted(r[0] for r in rows) == sorted([shop.key_id, admin.key_id])
