"""Queries on evaluations and the version scores they keep up to date.

Recording an evaluation upserts one ``version_scores`` row per metric in the
same transaction: the value of the latest evaluation (highest row id) of the
version with that metric on that dataset version and slice. Ranking reads that
table by its index (ranking.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from sqlalchemy import BigInteger, Double, Text, bindparam, case, column, func, literal, select
from sqlalchemy.dialects.postgresql import JSONB, insert

from modelreg_server.domain import errors
from modelreg_server.domain.datasets import Evaluation, NewEvaluation
from modelreg_server.domain.names import evaluation_name, version_name
from modelreg_server.domain.types import ListQuery, ModelVersion, Page
from modelreg_server.storage import datasets as dataset_q
from modelreg_server.storage import ids, pagination
from modelreg_server.storage import models as model_q
from modelreg_server.storage import runs as run_q
from modelreg_server.storage import versions as version_q
from modelreg_server.storage.store import Conn
from modelreg_server.storage.tables import (
    aliases,
    dataset_versions,
    datasets,
    evaluations,
    model_versions,
    models,
    projects,
    runs,
    version_scores,
)

ev = evaluations
_dp = projects.alias("dp")
_rp = projects.alias("rp")
_run_name = (
    select(literal("projects/") + _rp.c.name + literal("/runs/") + runs.c.name)
    .select_from(runs.join(_rp, _rp.c.id == runs.c.project_id))
    .where(runs.c.id == ev.c.run_id)
    .scalar_subquery()
)
DATASET_VERSION_NAME = (
    literal("projects/")
    + _dp.c.name
    + literal("/datasets/")
    + datasets.c.name
    + literal("/versions/")
    + dataset_versions.c.version
)
# What an Evaluation record is: the row, the names of the version it belongs to,
# of the dataset version and of the run.
READ = (
    select(
        *ev.c,
        projects.c.name.label("project_name"),
        models.c.name.label("model_name"),
        model_versions.c.version,
        DATASET_VERSION_NAME.label("dataset_version_name"),
        case((ev.c.run_id.is_(None), None), else_=_run_name).label("run_name"),
    )
    .join(model_versions, model_versions.c.id == ev.c.version_id)
    .join(models, models.c.id == model_versions.c.model_id)
    .join(projects, projects.c.id == models.c.project_id)
    .join(dataset_versions, dataset_versions.c.id == ev.c.dataset_version_id)
    .join(datasets, datasets.c.id == dataset_versions.c.dataset_id)
    .join(_dp, _dp.c.id == datasets.c.project_id)
)

_metrics = (
    func.jsonb_each_text(bindparam("metrics", type_=JSONB))
    .table_valued(column("key", Text), column("value", Text))
    .render_derived(name="m")
)


async def create(
    conn: Conn,
    version_id: int,
    version_label: tuple[str, str, int],
    evaluation_id: str,
    spec: NewEvaluation,
    *,
    created_by: str,
) -> Evaluation:
    """Record an evaluation of the version with row id ``version_id`` (named by
    ``version_label``: project, model, number) and update its scores."""
    assert spec.dataset_version is not None
    dv_id = await dataset_q.resolve_id(conn, spec.dataset_version, "evaluation.dataset_version")
    run = None if spec.run is None else await run_q.referenced_id(conn, spec.run, "evaluation.run")
    values = {
        "version_id": version_id,
        "dataset_version_id": dv_id,
        "slice": spec.slice,
        "metrics": dict(spec.metrics),
        "run_id": run,
        "labels": dict(spec.labels),
        "created_by": created_by,
    }

    async def insert_row(name: str) -> int | None:
        row = (
            await conn.execute(
                insert(ev)
                .values(evaluation_id=name, **values)
                .on_conflict_do_nothing(index_elements=[ev.c.version_id, ev.c.evaluation_id])
                .returning(ev.c.id)
            )
        ).first()
        return None if row is None else int(row.id)

    def taken(name: str) -> errors.RegistryError:
        return errors.AlreadyExists("evaluation", evaluation_name(*version_label, name))

    row_id, _ = await ids.insert_named(
        conn,
        kind=ids.EVALUATION,
        parent_id=version_id,
        given=evaluation_id,
        spell=lambda n: f"eval_{n}",
        insert_row=insert_row,
        taken=taken,
    )
    await _upsert_scores(conn, row_id, version_id, dv_id, spec)
    return await get_by_id(conn, row_id)


async def _upsert_scores(
    conn: Conn, evaluation: int, version_id: int, dv_id: int, spec: NewEvaluation
) -> None:
    vs = version_scores
    stmt = insert(vs).from_select(
        ["version_id", "dataset_version_id", "slice", "key", "value", "evaluation_id"],
        select(
            literal(version_id, BigInteger),
            literal(dv_id, BigInteger),
            literal(spec.slice, Text),
            _metrics.c.key,
            _metrics.c.value.cast(Double),
            literal(evaluation, BigInteger),
        ).select_from(_metrics),
    )
    # The latest evaluation wins, also between concurrent transactions: a later
    # row id never gives way to an earlier one.
    stmt = stmt.on_conflict_do_update(
        index_elements=[vs.c.version_id, vs.c.dataset_version_id, vs.c.slice, vs.c.key],
        set_={"value": stmt.excluded.value, "evaluation_id": stmt.excluded.evaluation_id},
        where=vs.c.evaluation_id < stmt.excluded.evaluation_id,
    )
    await conn.execute(stmt, {"metrics": {k: float(v) for k, v in spec.metrics.items()}})


async def get_by_id(conn: Conn, row_id: int) -> Evaluation:
    return cast(Evaluation, (await conn.execute(READ.where(ev.c.id == row_id))).one()._mapping)


async def get(conn: Conn, version_id: int, evaluation_id: str) -> Evaluation | None:
    row = (
        await conn.execute(
            READ.where(ev.c.version_id == version_id, ev.c.evaluation_id == evaluation_id)
        )
    ).first()
    return None if row is None else cast(Evaluation, row._mapping)


async def list_(
    conn: Conn, version_id: int, q: ListQuery, tokens: pagination.PageTokens
) -> Page[Evaluation]:
    query = READ.where(ev.c.version_id == version_id)
    found = await pagination.fetch_page(conn, query, [ev.c.id], False, q, tokens, version_id)
    return cast(Page[Evaluation], found)


async def scores_of(conn: Conn, version_ids: Sequence[int]) -> Sequence[Mapping[str, Any]]:
    """Every score of the versions: version_id, dataset_version (name), slice, key,
    value, evaluation (name), in no particular order."""
    vs = version_scores
    evaluation = (
        literal("projects/")
        + projects.c.name
        + literal("/models/")
        + models.c.name
        + literal("/versions/")
        + model_versions.c.version.cast(Text)
        + literal("/evaluations/")
        + ev.c.evaluation_id
    )
    dv_name = DATASET_VERSION_NAME.label("dataset_version")
    query = (
        select(
            vs.c.version_id,
            dv_name,
            vs.c.slice,
            vs.c.key,
            vs.c.value,
            evaluation.label("evaluation"),
        )
        .select_from(
            vs.join(ev, ev.c.id == vs.c.evaluation_id)
            .join(model_versions, model_versions.c.id == vs.c.version_id)
            .join(models, models.c.id == model_versions.c.model_id)
            .join(projects, projects.c.id == models.c.project_id)
            .join(dataset_versions, dataset_versions.c.id == vs.c.dataset_version_id)
            .join(datasets, datasets.c.id == dataset_versions.c.dataset_id)
            .join(_dp, _dp.c.id == datasets.c.project_id)
        )
        .where(vs.c.version_id.in_(list(version_ids)))
    )
    return [cast(Mapping[str, Any], r._mapping) for r in await conn.execute(query)]


async def versions_by_selectors(
    conn: Conn, project: str, model: str, selectors: Sequence[str]
) -> list[ModelVersion]:
    """The versions named by number, alias or ``latest``, in the order of
    ``selectors``, in a few queries; NotFound naming the first missing one."""
    mid = await model_q.id_of(conn, project, model)
    numbers = {int(s) for s in selectors if s.isdigit()}
    names = sorted({s for s in selectors if not s.isdigit() and s != version_q.LATEST})
    targets: dict[str, int] = {}
    if names:
        pointing = await conn.execute(
            select(aliases.c.alias, aliases.c.version_id).where(
                aliases.c.model_id == mid, aliases.c.alias.in_(names)
            )
        )
        targets = {r.alias: r.version_id for r in pointing}
    if version_q.LATEST in selectors:
        latest = await conn.scalar(
            select(model_versions.c.id)
            .where(model_versions.c.model_id == mid, model_versions.c.state == "READY")
            .order_by(model_versions.c.version.desc())
            .limit(1)
        )
        if latest is not None:
            targets[version_q.LATEST] = latest
    query = version_q.READ.where(
        model_versions.c.model_id == mid,
        model_versions.c.version.in_(sorted(numbers))
        | model_versions.c.id.in_(sorted(set(targets.values()))),
    )
    rows = await conn.execute(query, {"project": project, "model": model})
    by_number = {r.version: r._mapping for r in rows}
    by_id = {r["id"]: r for r in by_number.values()}
    result: list[ModelVersion] = []
    for selector in selectors:
        hit = (
            by_number.get(int(selector))
            if selector.isdigit()
            else by_id.get(targets.get(selector, -1))
        )
        if hit is None:
            kind = "version" if selector.isdigit() else "alias"
            raise errors.NotFound(kind, version_name(project, model, selector))
        result.append(hit)
    return result
