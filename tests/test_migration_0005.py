"""Migration 0005 (production tracking), tested by upgrading a database made at 0004
with data in it: projects, models and versions (one deleted, one from a run), an
alias with its history, a dataset version, a run with params, inputs and metric
points, and an evaluation. After `modelreg db upgrade` every row is
still there and reads back as it was, and the upgraded database serves deployments
of the models it held (and deletes them with their project)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta

import pytest

import modelreg
from modelreg import DeploymentEventKind, DeploymentState
from modelreg_server.storage import migrate
from modelreg_server.testing import fresh_database, running_server
from tests.test_migrations import _schema_diff, _sql, _upgrade

RUN = "projects/shop/runs/run_001"
TRAIN = "projects/shop/datasets/clicks/versions/v1"
AT_0004 = f"""
INSERT INTO projects (id, name, description) VALUES (3001, 'shop', 'the shop'),
    (3002, 'other', '');
INSERT INTO models (id, project_id, name, version_count) VALUES (3001, 3001, 'ranker', 3),
    (3002, 3002, 'ranker', 1);
INSERT INTO datasets (id, project_id, name, version_count) VALUES (3001, 3001, 'clicks', 1);
INSERT INTO dataset_versions (id, dataset_id, version, uri, row_count, split, batch_id,
    created_by)
VALUES (3001, 3001, 'v1', 's3://d/clicks', 100, 'train', 'b1', 'alice');
INSERT INTO runs (id, project_id, name, state, param_list, input_list, created_by, end_time)
VALUES (3001, 3001, 'run_001', 'SUCCEEDED', '[["lr", "float", "0.1"]]',
    '[["clicks", "v1", "b1", "TRAIN", "{TRAIN}"]]', 'alice', now());
INSERT INTO run_params (run_id, key, kind, num_value, text_value)
VALUES (3001, 'lr', 'float', 0.1, '0.1');
INSERT INTO run_inputs (run_id, position, dataset_version_id, role) VALUES (3001, 1, 3001, 'TRAIN');
INSERT INTO run_metrics (run_id, key, step, value, time) VALUES
    (3001, 'loss', 1, 0.5, now()), (3001, 'loss', 2, 0.25, now());
INSERT INTO run_latest_metrics (run_id, key, value, step, time, metric_id)
SELECT run_id, key, value, step, time, id FROM run_metrics WHERE run_id = 3001 AND step = 2;
INSERT INTO model_versions (id, model_id, version, state, artifact_uri, source_run, run_id,
    data_list, created_by)
VALUES
  (3001, 3001, 1, 'READY', 's3://m/1.pt', '{RUN}', 3001,
   '[["clicks", "v1", "b1", "TRAIN", "{TRAIN}"]]', 'alice'),
  (3002, 3001, 2, 'ARCHIVED', 's3://m/2.pt', '', NULL, '[]', 'bob'),
  (3003, 3001, 3, 'DELETED', 's3://m/3.pt', '', NULL, '[]', 'bob'),
  (3004, 3002, 1, 'READY', 's3://o/1.pt', '', NULL, '[]', 'carol');
INSERT INTO aliases (model_id, alias, version_id, updated_by)
VALUES (3001, 'production', 3001, 'alice');
INSERT INTO alias_events (model_id, alias, kind, to_version, actor, reason)
VALUES (3001, 'production', 'SET', 1, 'alice', 'first');
INSERT INTO evaluations (id, version_id, evaluation_id, dataset_version_id, metrics, run_id,
    created_by)
VALUES (3001, 3001, 'eval_1', 3001, '{{"ndcg": 0.7}}', 3001, 'alice');
SELECT setval(pg_get_serial_sequence(t, 'id'), 4000)
FROM unnest(ARRAY['projects', 'models', 'model_versions', 'alias_events', 'datasets',
    'dataset_versions', 'runs', 'evaluations']) AS t;
"""
TABLES = (
    "projects", "models", "model_versions", "aliases", "alias_events", "datasets",
    "dataset_versions", "runs", "run_params", "run_inputs", "run_metrics",
    "run_latest_metrics", "evaluations", "request_log",
)  # fmt: skip


def _counts(url: str) -> dict[str, int]:
    query = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM {t}" for t in TABLES)
    return {row[0]: row[1] for row in asyncio.run(_sql(url, query))}


@pytest.fixture(scope="module")
def upgraded(pg_server_url: str) -> Iterator[tuple[str, dict[str, int]]]:
    """A database made at 0004 and filled, then upgraded by `modelreg db upgrade`; and
    the row counts before the upgrade."""
    with fresh_database(pg_server_url, migrated=False) as url:
        asyncio.run(_upgrade(url, "0004"))
        asyncio.run(_sql(url, AT_0004))
        before = _counts(url)
        done = subprocess.run(
            [sys.executable, "-m", "modelreg.cli", "db", "upgrade", "--database-url", url],
            capture_output=True,
            text=True,
            timeout=120,
            env={k: v for k, v in os.environ.items() if not k.startswith("MODELREG_")},
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"schema: 0004 -> {migrate.head_revision()}"
        yield url, before


@pytest.fixture(scope="module")
def served(upgraded: tuple[str, dict[str, int]]) -> Iterator[modelreg.Client]:
    with (
        running_server(upgraded[0]) as server,
        modelreg.Client(server.target, actor="tester") as client,
    ):
        yield client


def test_the_upgrade_keeps_every_row_and_makes_the_tables_declared(
    upgraded: tuple[str, dict[str, int]],
) -> None:
    url, before = upgraded
    assert before["run_metrics"] == 2 and before["model_versions"] == 4
    assert _counts(url) == before
    assert asyncio.run(_schema_diff(url)) == []
    for table in ("deployments", "deployment_events", "inference_records", "inference_rollups"):
        assert asyncio.run(_sql(url, f"SELECT count(*) FROM {table}"))[0][0] == 0


def test_data_made_at_0004_reads_back(served: modelreg.Client) -> None:
    client = served
    assert client.get_project("shop").description == "the shop"
    assert client.get_model("shop", "ranker").version_count == 3
    versions = list(client.list_model_versions("shop", "ranker", show_deleted=True))
    assert [(v.version, v.state.value, v.created_by) for v in versions] == [
        (1, "READY", "alice"), (2, "ARCHIVED", "bob"), (3, "DELETED", "bob"),
    ]  # fmt: skip
    first = versions[0]
    assert (first.source_run, first.aliases) == (RUN, ("production",))
    assert [r.dataset_version for r in first.training_data] == [TRAIN]
    assert client.get_alias("shop", "ranker", "production").version == 1
    run = client.get_run("shop", "run_001")
    assert (run.state.value, run.params) == ("SUCCEEDED", {"lr": 0.1})
    assert run.latest_metrics["loss"].value == 0.25
    assert [m.value for m in client.metric_history("shop", "run_001", "loss")] == [0.5, 0.25]
    assert [o.model_version for o in run.outputs] == ["projects/shop/models/ranker/versions/1"]
    dv = client.get_dataset_version("shop", "clicks", "v1")
    assert (dv.batch_id, dv.row_count, dv.uri) == ("b1", 100, "s3://d/clicks")
    [evaluation] = client.list_evaluations("shop", "ranker", 1)
    assert evaluation.metrics == {"ndcg": 0.7}
    # New registrations continue the counter.
    assert client.register_model_version("shop", "ranker", artifact_uri="s3://m/4.pt").version == 4


def test_the_upgraded_database_serves_deployments(served: modelreg.Client) -> None:
    client = served
    made = client.create_deployment(
        "shop", "prod", model="ranker", traffic={1: 90, 2: 10}, environment="prod"
    )
    assert (made.traffic, made.state, made.created_by) == (
        {1: 90, 2: 10}, DeploymentState.ACTIVE, "tester",
    )  # fmt: skip
    with pytest.raises(modelreg.InvalidArgumentError) as info:
        client.set_traffic("shop", "prod", {1: 50, 3: 50})
    assert (info.value.field, info.value.reason) == ("traffic[1].version", "VERSION_DELETED")
    moved = client.set_traffic("shop", "prod", {1: 100}, etag=made.etag, reason="rollback")
    assert [e.kind for e in client.deployment_history("shop", "prod")] == [
        DeploymentEventKind.TRAFFIC,
        DeploymentEventKind.CREATE,
    ]
    assert client.get_deployment("shop", "prod", at=made.create_time).traffic == {1: 90, 2: 10}
    assert client.get_deployment("shop", "prod", at=moved.update_time).traffic == {1: 100}
    with pytest.raises(modelreg.NotFoundError):
        client.get_deployment("shop", "prod", at=made.create_time - timedelta(microseconds=1))
    assert [d.deployment_id for d in client.list_deployments("shop")] == ["prod"]

    client.create_deployment("other", "prod", model="ranker", traffic={1: 100})
    client.delete_project("other", force=True)
    with pytest.raises(modelreg.NotFoundError):
        client.get_deployment("other", "prod")
    assert client.get_deployment("shop", "prod") == moved
