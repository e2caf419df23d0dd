"""Plans stay index-driven at scale: over a model with 100,000 versions, a page in
`create_time` order walks its index instead of sorting every version, and a params
filter that matches nothing is answered from the (key, num_value) index instead of
probing every version. These are plan shapes (EXPLAIN), not timings."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import asyncpg
import pytest

import modelreg
from bench.bulk import add_versions
from modelreg_server.storage import versions
from modelreg_server.storage.sql import Statement
from modelreg_server.testing import asyncpg_dsn
from tests.conftest import unique

SIZE = 100_000


@pytest.fixture(scope="module")
def big_model(target: str, database_url: str) -> Iterator[tuple[str, str]]:
    project = unique("plans")
    with modelreg.Client(target, actor="tester") as client:
        client.create_project(project)
        client.register_model_version(
            project, "big", artifact_uri="s3://b/0.pt", params={"lr": 0.5, "epochs": 10}
        )
        asyncio.run(add_versions(asyncpg_dsn(database_url), project, "big", SIZE - 1))
        client.set_alias(project, "big", "production", 7)
    yield project, "big"


async def _explain(url: str, compiled: Statement, values: dict[str, object]) -> str:
    args = compiled.args(values)
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        rows = await conn.fetch("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + compiled.sql, *args)
    finally:
        await conn.close()
    return "\n".join(r[0] for r in rows)


async def _plan(url: str, project: str, model: str, filter_text: str, order: str) -> str:
    field, _, direction = order.partition(" ")
    statement = versions._page_statement(field, direction == "desc", filter_text, False, False)
    values = {"project": project, "model": model, "limit": 101}
    return await _explain(url, Statement(statement), values)


@pytest.mark.parametrize("selector", ["production", "latest", "7"])
def test_one_version_is_fetched_by_key(
    big_model: tuple[str, str], database_url: str, selector: str
) -> None:
    project, model = big_model
    kind = "number" if selector.isdigit() else selector if selector == "latest" else "alias"
    values: dict[str, object] = {"project": project, "model": model}
    values.update({"number": 7} if kind == "number" else {"alias": selector})
    plan = asyncio.run(_explain(database_url, versions._GET[kind], values))
    # No scan over per-version rows. A small table (projects, aliases) may be read
    # whole: when it fits in a page or two, and the session database's other tests
    # decide that, a sequential read is the planner's cheaper choice.
    scanned = [line for line in plan.splitlines() if "Seq Scan on model_version" in line]
    assert not scanned, plan
    assert "rows=100000" not in plan and "loops=100000" not in plan, plan


def test_create_time_pages_walk_the_index(big_model: tuple[str, str], database_url: str) -> None:
    plan = asyncio.run(_plan(database_url, *big_model, "", "create_time desc"))
    assert "ix_model_versions_model_id_create_time_version" in plan, plan
    assert "Sort" not in plan.split("SubPlan")[0], plan  # no sort of all versions
    assert "rows=101" in plan.splitlines()[0], plan


def test_selective_params_filter_uses_the_params_index(
    big_model: tuple[str, str], database_url: str
) -> None:
    # Every version has lr <= 0.5 and epochs >= 10: per column, "num_value > 5" looks
    # common; only the (key, num_value) statistics show it matches no lr at all.
    plan = asyncio.run(_plan(database_url, *big_model, "params.lr > 5", "version"))
    assert "ix_model_version_params_key_num_value" in plan, plan
    assert "loops=100000" not in plan and "rows=100000" not in plan, plan
