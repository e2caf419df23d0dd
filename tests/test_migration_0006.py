"""Migration 0006 (pipelines and lineage), tested by upgrading a database made at
0005 with data in it: a project with a batch and a test set, a run, two versions
(the second fine-tuned from the first, trained on the batch), an alias, an
evaluation, a deployment with its history, an inference rollup day, and a
recorded request id. After `modelreg db upgrade` every row is still there, the
new tables are empty, the index on ``model_versions.parent_id`` exists, and the
upgraded database records pipeline runs over the data it held: references
resolve (the alias to its number, the old rollups as inference windows) and the
cycle check walks the old edges."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import date
from typing import Any

import grpc
import pytest

import modelreg
from modelreg.api.v1 import resources_pb2 as pb
from modelreg_server.domain.lineage import Kind, NodeKey
from modelreg_server.storage import lineage_refs, migrate
from modelreg_server.storage.database import create_engine
from modelreg_server.storage.store import Store
from modelreg_server.testing import fresh_database, running_server
from tests.pipeline_support import Step, create, end, fails, get, record, step_request
from tests.test_migrations import _schema_diff, _sql, _upgrade

BATCH = "projects/shop/datasets/clicks/versions/b1"
TEST = "projects/shop/datasets/holdout/versions/v1"
V1 = "projects/shop/models/ranker/versions/1"
V2 = "projects/shop/models/ranker/versions/2"
DAY = "2026-01-02"
AT_0005 = f"""
INSERT INTO projects (id, name, description) VALUES (6001, 'shop', 'the shop');
INSERT INTO models (id, project_id, name, version_count) VALUES (6001, 6001, 'ranker', 2);
INSERT INTO datasets (id, project_id, name, version_count) VALUES
    (6001, 6001, 'clicks', 1), (6002, 6001, 'holdout', 1);
INSERT INTO dataset_versions (id, dataset_id, version, uri, batch_id, created_by) VALUES
    (6001, 6001, 'b1', 's3://d/b1', '2024-11-06', 'alice'),
    (6002, 6002, 'v1', 's3://d/t', '', 'alice');
INSERT INTO runs (id, project_id, name, state, created_by) VALUES
    (6001, 6001, 'run_001', 'RUNNING', 'alice');
INSERT INTO model_versions (id, model_id, version, state, artifact_uri, data_list, parent_id,
    created_by)
VALUES (6001, 6001, 1, 'READY', 's3://m/1.pt',
        '[["clicks", "b1", "2024-11-06", "TRAIN", "{BATCH}"]]', NULL, 'alice'),
       (6002, 6001, 2, 'READY', 's3://m/2.pt', '[]', 6001, 'bob');
INSERT INTO model_version_data (version_id, position, dataset, version, batch_id, role,
    dataset_version_id)
VALUES (6001, 0, 'clicks', 'b1', '2024-11-06', 'TRAIN', 6001);
INSERT INTO aliases (model_id, alias, version_id, updated_by)
VALUES (6001, 'production', 6002, 'bob');
INSERT INTO evaluations (id, version_id, evaluation_id, dataset_version_id, metrics, created_by)
VALUES (6001, 6002, 'eval_1', 6002, '{{"ndcg": 0.7}}', 'bob');
INSERT INTO deployments (id, project_id, model_id, name, traffic, created_by, updated_by)
VALUES (6001, 6001, 6001, 'prod', '[[2, 100]]', 'bob', 'bob');
INSERT INTO deployment_events (deployment_id, kind, traffic, state, actor)
VALUES (6001, 'CREATE', '[[2, 100]]', 'ACTIVE', 'bob');
INSERT INTO inference_daily_rollups (model_id, day, version, deployment_id, count)
VALUES (6001, '{DAY}T00:00:00Z', 2, 6001, 40);
INSERT INTO request_log (method, scope, request_id, payload_hash)
VALUES ('CreateRun', 'projects/shop', 'r-1', 'abc');
SELECT setval(pg_get_serial_sequence(t, 'id'), 7000)
FROM unnest(ARRAY['projects', 'models', 'model_versions', 'datasets', 'dataset_versions',
    'runs', 'evaluations', 'deployments', 'deployment_events']) AS t;
"""
TABLES = (
    "projects", "models", "model_versions", "model_version_data", "aliases", "datasets",
    "dataset_versions", "runs", "evaluations", "deployments", "deployment_events",
    "inference_daily_rollups", "request_log", "id_counters",
)  # fmt: skip
NEW_TABLES = ("pipelines", "pipeline_runs", "pipeline_steps", "pipeline_step_refs")


def _counts(url: str) -> dict[str, int]:
    query = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM {t}" for t in TABLES)
    return {row[0]: row[1] for row in asyncio.run(_sql(url, query))}


@pytest.fixture(scope="module")
def upgraded(pg_server_url: str) -> Iterator[tuple[str, dict[str, int]]]:
    """A database made at 0005 and filled, then upgraded by `modelreg db upgrade`; and
    the row counts before the upgrade."""
    with fresh_database(pg_server_url, migrated=False) as url:
        asyncio.run(_upgrade(url, "0005"))
        asyncio.run(_sql(url, AT_0005))
        before = _counts(url)
        done = subprocess.run(
            [sys.executable, "-m", "modelreg.cli", "db", "upgrade", "--database-url", url],
            capture_output=True,
            text=True,
            timeout=120,
            env={k: v for k, v in os.environ.items() if not k.startswith("MODELREG_")},
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"schema: 0005 -> {migrate.head_revision()}"
        yield url, before


@pytest.fixture(scope="module")
def lin(upgraded: tuple[str, dict[str, int]]) -> Iterator[Any]:
    with (
        running_server(upgraded[0]) as server,
        modelreg.Client(server.target, actor="tester") as client,
    ):
        yield client.lineage_stub


def test_the_upgrade_keeps_every_row_and_makes_the_tables_declared(
    upgraded: tuple[str, dict[str, int]],
) -> None:
    url, before = upgraded
    assert before["model_versions"] == 2 and before["inference_daily_rollups"] == 1
    assert _counts(url) == before
    assert asyncio.run(_schema_diff(url)) == []
    for table in NEW_TABLES:
        assert asyncio.run(_sql(url, f"SELECT count(*) FROM {table}"))[0][0] == 0
    indexes = asyncio.run(
        _sql(url, "SELECT indexdef FROM pg_indexes WHERE tablename = 'model_versions'")
    )
    assert any("(parent_id)" in row[0] for row in indexes)


@pytest.fixture
async def store(upgraded: tuple[str, dict[str, int]]) -> AsyncIterator[Store]:
    s = Store(create_engine(upgraded[0], pool_size=5))
    yield s
    await s.close()


async def test_resources_made_at_0005_resolve(store: Store) -> None:
    async with store.read() as conn:
        assert await lineage_refs.resolve(conn, BATCH, "f") == NodeKey(Kind.DATASET_VERSION, 6001)
        alias = "projects/shop/models/ranker/versions/production"
        assert await lineage_refs.resolve_named(conn, alias, "f") == (
            NodeKey(Kind.MODEL_VERSION, 6002), V2,
        )  # fmt: skip
        window = f"projects/shop/deployments/prod/windows/{DAY}"
        node = NodeKey(Kind.INFERENCE_WINDOW, 6001, date.fromisoformat(DAY))
        assert await lineage_refs.resolve(conn, window, "f") == node


def test_the_upgraded_database_records_pipelines_over_its_data(lin: Any) -> None:
    run = create(lin, "shop", definition_version="git:1")
    assert run.name == "projects/shop/pipelines/nightly/runs/run_001"
    prod = "projects/shop/models/ranker/versions/production"
    done = record(lin, run.name, "validate", Step.SUCCEEDED, [prod, TEST],
                  ["projects/shop/models/ranker/versions/2/evaluations/eval_1"])  # fmt: skip
    assert [(r.name, r.kind) for r in done.steps[0].inputs] == [
        (V2, pb.RESOURCE_KIND_MODEL_VERSION), (TEST, pb.RESOURCE_KIND_DATASET_VERSION),
    ]  # fmt: skip
    # The batch is upstream of version 2 through version 1 (TRAINED, then FINE_TUNED).
    for outputs, field in (
        (["projects/shop/runs/run_001", BATCH], "step.outputs[1]"),
        ([V1], "step.outputs[0]"),
    ):
        cycle = step_request(run.name, "retrain", Step.SUCCEEDED, [V2], outputs)
        code = grpc.StatusCode.INVALID_ARGUMENT
        fails(lin.RecordPipelineStep, cycle, code, "LINEAGE_CYCLE", field)
    ended = end(lin, run.name, pb.PipelineRun.SUCCEEDED)
    assert get(lin, run.name) == ended and ended.state == pb.PipelineRun.SUCCEEDED
