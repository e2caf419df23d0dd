"""storage/lineage_refs.py: every resource name form the lineage graph knows
resolves to its node (aliases to the version they point at); a malformed name is
INVALID_ARGUMENT naming the field, a missing one NOT_FOUND."""

from __future__ import annotations

from datetime import date

import pytest

import modelreg
from modelreg_server.domain import errors
from modelreg_server.domain.lineage import Kind, NodeKey
from modelreg_server.storage import lineage_refs
from modelreg_server.storage.store import Store
from tests.support import insert_run, register, sql

DAY = "2026-01-02"


def _ids(database_url: str, query: str, *args: object) -> int:
    return int(sql(database_url, query, *args)[0][0])


def _project_row(table: str, where: str) -> str:
    join = "JOIN projects p ON p.id = t.project_id"
    return f"SELECT t.id FROM {table} t {join} WHERE p.name = $1{where}"


@pytest.fixture
def world(sync_client: modelreg.Client, project: str, database_url: str) -> dict[str, NodeKey]:
    """One resource of each kind in ``project``; name -> the node it must resolve to."""
    c, p, url = sync_client, project, database_url
    dv = c.create_dataset_version(p, "clicks", version="v1", uri="s3://d/1", batch_id="b1")
    [v1, v2] = register(c, p, "m", 2)
    c.set_alias(p, "m", "production", 1)
    run = insert_run(url, p, "r1")
    ev = c.log_evaluation(
        v1.resource_name, dataset=dv.resource_name, metrics={"acc": 0.5}, evaluation_id="e1"
    )
    c.create_deployment(p, "prod", model="m", traffic={1: 100})
    dep = _ids(url, _project_row("deployments", ""), p)
    model = _ids(url, _project_row("models", ""), p)
    run_id = _ids(url, _project_row("runs", " AND t.name = 'r1'"), p)
    dv_id = _ids(
        url,
        "SELECT v.id FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id "
        "JOIN projects p ON p.id = d.project_id WHERE p.name = $1",
        p,
    )
    sql(
        url,
        "INSERT INTO inference_daily_rollups (model_id, day, version, deployment_id, count) "
        "VALUES ($1, $3::date::timestamptz, 1, $2, 5), ($1, $3::date::timestamptz, 2, 0, 1)",
        model,
        dep,
        date.fromisoformat(DAY),
    )
    pl = _ids(
        url,
        "INSERT INTO pipelines (project_id, name) SELECT id, 'nightly' FROM projects "
        "WHERE name = $1 RETURNING id",
        p,
    )
    prun = _ids(
        url,
        "INSERT INTO pipeline_runs (pipeline_id, project_id, name) "
        "SELECT $1, project_id, 'run_001' FROM pipelines WHERE id = $1 RETURNING id",
        pl,
    )
    step = _ids(
        url,
        "INSERT INTO pipeline_steps (pipeline_run_id, name, position, state) "
        "VALUES ($1, 'train', 0, 'RUNNING') RETURNING id",
        prun,
    )
    mv1, mv2 = (
        _ids(url, "SELECT id FROM model_versions WHERE model_id = $1 AND version = $2", model, n)
        for n in (1, 2)
    )
    ev_id = _ids(url, "SELECT id FROM evaluations WHERE version_id = $1", mv1)
    base = f"projects/{p}"
    day = date.fromisoformat(DAY)
    return {
        dv.resource_name: NodeKey(Kind.DATASET_VERSION, dv_id),
        run: NodeKey(Kind.RUN, run_id),
        v1.resource_name: NodeKey(Kind.MODEL_VERSION, mv1),
        f"{base}/models/m/versions/production": NodeKey(Kind.MODEL_VERSION, mv1),
        f"{base}/models/m/versions/latest": NodeKey(Kind.MODEL_VERSION, mv2),
        f"{base}/models/m/versions/002": NodeKey(Kind.MODEL_VERSION, mv2),
        v2.resource_name: NodeKey(Kind.MODEL_VERSION, mv2),
        ev.resource_name: NodeKey(Kind.EVALUATION, ev_id),
        f"{base}/models/m/versions/production/evaluations/e1": NodeKey(Kind.EVALUATION, ev_id),
        f"{base}/deployments/prod": NodeKey(Kind.DEPLOYMENT, dep),
        f"{base}/pipelines/nightly/runs/run_001": NodeKey(Kind.PIPELINE_RUN, prun),
        f"{base}/pipelines/nightly/runs/run_001/steps/train": NodeKey(Kind.PIPELINE_STEP, step),
        f"{base}/deployments/prod/windows/{DAY}": NodeKey(Kind.INFERENCE_WINDOW, dep, day),
        f"{base}/models/m/windows/{DAY}": NodeKey(Kind.INFERENCE_WINDOW, -model, day),
    }


async def test_every_name_form_resolves(store: Store, world: dict[str, NodeKey]) -> None:
    async with store.read() as conn:
        for name, node in world.items():
            assert await lineage_refs.resolve(conn, name, "resource") == node, name


async def test_canonical_names_have_the_version_number(
    store: Store, world: dict[str, NodeKey], project: str
) -> None:
    base = f"projects/{project}/models/m/versions"
    async with store.read() as conn:
        for given, canonical in (
            (f"{base}/production", f"{base}/1"),
            (f"{base}/002", f"{base}/2"),
            (f"{base}/production/evaluations/e1", f"{base}/1/evaluations/e1"),
        ):
            assert (await lineage_refs.resolve_named(conn, given, "f"))[1] == canonical


@pytest.mark.parametrize(
    "name",
    [
        "",
        "projects/p",
        "projects/p/models/m",
        "projects/p/runs/",
        "projects/P/runs/r",
        "projects/p/widgets/w",
        "projects/p/models/m/versions/0",
        "projects/p/models/m/versions/99999999999999999999",
        "projects/p/models/m/versions/Bad",
        "projects/p/datasets/d/versions/-v",
        "projects/p/deployments/d/windows/2026-13-01",
        "projects/p/deployments/d/windows/yesterday",
        "projects/p/pipelines/pl/runs/r/steps/x\x00",
        "projects/p/models/m/versions/1/evaluations",
    ],
)
async def test_malformed_names_are_invalid_naming_the_field(store: Store, name: str) -> None:
    async with store.read() as conn:
        with pytest.raises(errors.InvalidArgument) as info:
            await lineage_refs.resolve(conn, name, "step.inputs[3]")
    assert info.value.metadata["field"] == "step.inputs[3]"


async def test_missing_resources_are_not_found(
    store: Store, world: dict[str, NodeKey], project: str
) -> None:
    base = f"projects/{project}"
    missing = [
        f"{base}/datasets/clicks/versions/v2",
        f"{base}/runs/r2",
        f"{base}/models/m/versions/3",
        f"{base}/models/m/versions/staging",
        f"{base}/models/nope/versions/1",
        f"{base}/models/m/versions/1/evaluations/e2",
        f"{base}/deployments/canary",
        f"{base}/pipelines/nightly/runs/run_002",
        f"{base}/pipelines/weekly/runs/run_001",
        f"{base}/pipelines/nightly/runs/run_001/steps/deploy",
        f"{base}/deployments/prod/windows/2026-01-03",
        f"{base}/models/m/windows/2026-01-01",
        f"{base}/deployments/canary/windows/{DAY}",
        # The last day of the calendar: its day after is out of range.
        f"{base}/deployments/prod/windows/9999-12-31",
        f"{base}/models/m/windows/9999-12-31",
        f"{base}/models/m/windows/0001-01-01",
        f"projects/nope_{project}/runs/r1",
    ]
    async with store.read() as conn:
        for name in missing:
            with pytest.raises(errors.NotFound) as info:
                await lineage_refs.resolve(conn, name, "resource")
            assert info.value.name == name
