"""The ranking statement's plan on a model of 10,000 versions evaluated on 5
dataset versions (the benchmark's shape): it walks ix_version_scores_rank from
the best value and stops after the page, with no sort of every score, for both
goals, a filter, a whole project and a later page."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import asyncpg
import pytest

from modelreg_server.domain.datasets import DatasetVersionRef, Goal, RankQuery
from modelreg_server.storage import ranking
from modelreg_server.storage.pagination import PageTokens
from modelreg_server.testing import asyncpg_dsn
from tests.support import own_database_and_server

database_url, server, target = own_database_and_server()

VERSIONS = 10_000
FILL = f"""
INSERT INTO projects (name) VALUES ('bench');
INSERT INTO models (project_id, name, version_count)
SELECT id, m, {VERSIONS} FROM projects, (VALUES ('m'), ('other')) AS x(m) WHERE name = 'bench';
INSERT INTO model_versions (model_id, version, artifact_uri, param_list)
SELECT m.id, g, 's3://m/' || g, '[["lr", "float", "0.1"]]'
FROM models m, generate_series(1, {VERSIONS}) g;
INSERT INTO model_version_params (version_id, key, kind, num_value, text_value)
SELECT id, 'lr', 'float', (version % 10) / 100.0, ((version % 10) / 100.0)::text
FROM model_versions;
INSERT INTO datasets (project_id, name, version_count)
SELECT p.id, 'd' || g, 1 FROM projects p, generate_series(1, 5) g;
INSERT INTO dataset_versions (dataset_id, version, uri) SELECT id, 'v1', 's3://d' FROM datasets;
INSERT INTO evaluations (version_id, evaluation_id, dataset_version_id, metrics)
SELECT v.id, 'eval_' || dv.id, dv.id, '{{"precision": 0.5}}'
FROM model_versions v, dataset_versions dv;
INSERT INTO version_scores (version_id, dataset_version_id, slice, key, value, evaluation_id)
SELECT e.version_id, e.dataset_version_id, '', 'precision',
       ((e.version_id * 7919) % 1000) / 1000.0, e.id
FROM evaluations e;
ANALYZE;
"""


@pytest.fixture(scope="module")
def filled(database_url: str) -> str:
    async def go() -> None:
        conn = await asyncpg.connect(asyncpg_dsn(database_url))
        try:
            await conn.execute(FILL)
        finally:
            await conn.close()

    asyncio.run(go())
    return database_url


def _query(
    model: str = "m", goal: Goal = Goal.MAXIMIZE, filter: str = "", size: int = 1
) -> RankQuery:
    return RankQuery(
        project="bench",
        model=model,
        metric="precision",
        dataset_version=DatasetVersionRef("bench", "d3", "v1"),
        slice="",
        goal=goal,
        filter=filter,
        page_size=size,
    )


def _inline(value: Any) -> str:
    return f"$${value}$$" if isinstance(value, str) else repr(value)


async def _plan_and_time(url: str, q: RankQuery, token: str = "") -> tuple[str, float, Any]:
    """The page, the plan of its statement as a prepared statement gets it from
    its sixth call on (a generic plan), and the time per call once prepared."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        tokens = PageTokens(b"k" * 32)
        if token:
            q = RankQuery(**{**q.__dict__, "page_token": token})
        page, _ = await ranking.rank(conn, q, tokens)
        key = (bool(q.model), q.goal, q.filter, bool(q.page_token), q.page_size + 1)
        statement = ranking._PAGES.get(key, lambda: ranking._statement(*key))
        values: dict[str, Any] = {
            "project": q.project, "model": q.model, "dv_project": "bench", "dv_dataset": "d3",
            "dv_version": "v1", "slice": "", "metric": "precision",
        }  # fmt: skip
        if q.page_token:
            values["after_value"], values["after_id"], _ = ranking._after(
                q.page_token, ranking._fingerprint(q), tokens
            )
        args = statement.args(values)
        await conn.execute("SET plan_cache_mode = force_generic_plan")
        await conn.execute("PREPARE ranked AS " + statement.sql)
        inlined = ", ".join(map(_inline, args))
        rows = await conn.fetch(f"EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE ranked({inlined})")
        plan = json.dumps(json.loads(rows[0][0]))
        prepared = await conn.prepare(statement.sql)
        await prepared.fetch(*args)
        start = time.perf_counter()
        for _ in range(50):
            await prepared.fetch(*args)
        per_call = (time.perf_counter() - start) / 50
        return plan, per_call, page
    finally:
        await conn.close()


def _sorts_rows(plan: str) -> bool:
    """Whether the plan sorts the rows it ranks: a Sort node outside the per-row
    subplans (which may sort a version's few alias names, as some PostgreSQL
    versions show)."""

    def sorts(node: dict[str, Any]) -> bool:
        if node.get("Parent Relationship") == "SubPlan":
            return False
        return node["Node Type"] == "Sort" or any(sorts(n) for n in node.get("Plans", ()))

    return sorts(json.loads(plan)[0]["Plan"])


@pytest.mark.parametrize(
    "q",
    [
        _query(),
        _query(goal=Goal.MINIMIZE),
        _query(filter="params.lr < 0.05"),
        _query(model=""),
        _query(size=100),
    ],
    ids=["max", "min", "filter", "project", "page-100"],
)
def test_best_version_walks_the_rank_index(filled: str, q: RankQuery) -> None:
    plan, per_call, page = asyncio.run(_plan_and_time(filled, q))
    assert "ix_version_scores_rank" in plan
    # No sort of every score: at most an incremental sort of equal values.
    assert not _sorts_rows(plan), plan
    assert page.items and page.next_page_token
    print(f"{q.goal.value} model={q.model!r} filter={q.filter!r}: {per_call * 1000:.2f} ms")


def test_a_later_page_starts_at_the_token(filled: str) -> None:
    q = _query(size=50)
    _, _, first = asyncio.run(_plan_and_time(filled, q))
    plan, _, second = asyncio.run(_plan_and_time(filled, q, first.next_page_token))
    assert "ix_version_scores_rank" in plan and not _sorts_rows(plan)
    scores = [r["score"] for r in [*first.items, *second.items]]
    assert scores == sorted(scores, reverse=True)
    assert len({r["id"] for r in [*first.items, *second.items]}) == 100
