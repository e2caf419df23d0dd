"""Queries on projects."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.exc import IntegrityError

from modelreg_server.domain import errors
from modelreg_server.domain.names import etag, project_name
from modelreg_server.domain.types import ListQuery, Page, Project
from modelreg_server.storage import filters, pagination
from modelreg_server.storage.store import Conn
from modelreg_server.storage.tables import (
    inference_daily_rollups,
    inference_records,
    inference_rollups,
    models,
    projects,
    run_latest_metrics,
    run_metrics,
    runs,
)

FIELDS: Mapping[str, filters.FieldCompiler] = {
    "name": filters.column(projects.c.name, "str"),
    "create_time": filters.column(projects.c.create_time, "time"),
    "update_time": filters.column(projects.c.update_time, "time"),
    "labels.": filters.json_labels(projects.c.labels),
}
ORDER_BY = ("name", "create_time")
# What a Project record is: every column of the row.
READ = select(projects)


def _not_found(name: str) -> errors.NotFound:
    return errors.NotFound("project", project_name(name))


async def create(conn: Conn, name: str, description: str, labels: Mapping[str, str]) -> Project:
    try:
        row = (
            await conn.execute(
                projects.insert()
                .values(name=name, description=description, labels=dict(labels))
                .returning(*READ.selected_columns)
            )
        ).one()
    except IntegrityError as exc:
        raise errors.AlreadyExists("project", project_name(name)) from exc
    return cast(Project, row._mapping)


async def get(conn: Conn, name: str) -> Project:
    row = (await conn.execute(READ.where(projects.c.name == name))).first()
    if row is None:
        raise _not_found(name)
    return cast(Project, row._mapping)


async def id_of(conn: Conn, name: str) -> int:
    pid = await conn.scalar(select(projects.c.id).where(projects.c.name == name))
    if pid is None:
        raise _not_found(name)
    return int(pid)


async def lock(conn: Conn, name: str) -> tuple[int, str]:
    """Lock a project row for a change: (row id, etag)."""
    row = (
        await conn.execute(
            select(projects.c.id, projects.c.revision)
            .where(projects.c.name == name)
            .with_for_update()
        )
    ).first()
    if row is None:
        raise _not_found(name)
    return row.id, etag(row.revision)


async def list_(
    conn: Conn, q: ListQuery, tokens: pagination.PageTokens, only: str | None = None
) -> Page[Project]:
    """A page of projects; ``only``: just that one (what a project's API key sees)."""
    order, desc = pagination.parse_order_by(q.order_by, ORDER_BY, "name")
    query = READ.where(filters.compile_filter(q.filter, FIELDS))
    if only is not None:
        query = query.where(projects.c.name == only)
    keys = [projects.c[order], projects.c.id]
    found = await pagination.fetch_page(conn, query, keys, desc, q, tokens)
    return cast(Page[Project], found)


async def update_(conn: Conn, pid: int, values: Mapping[str, Any]) -> Project:
    row = (
        await conn.execute(
            update(projects)
            .where(projects.c.id == pid)
            .values(**values, revision=projects.c.revision + 1, update_time=func.now())
            .returning(*READ.selected_columns)
        )
    ).one()
    return cast(Project, row._mapping)


async def delete_(conn: Conn, pid: int) -> None:
    """Delete the project and all in it: the database cascades, but for the metric
    points of its runs and the inference records and rollups of its models, which
    have no foreign key (see tables.RunMetricRow, tables.InferenceRecordRow). The runs
    go first, under their row locks, so a call writing points either committed them
    before (and the next statement sees them) or finds its run gone and writes none."""
    deleted = await conn.execute(delete(runs).where(runs.c.project_id == pid).returning(runs.c.id))
    run_ids = [row.id for row in deleted]
    if run_ids:
        for table in (run_metrics, run_latest_metrics):
            await conn.execute(delete(table).where(table.c.run_id.in_(run_ids)))
    # Inference records and rollups have no foreign key either: by the ids of the
    # project's models (a batch being written holds the project row, locked by the
    # caller, so none is written after this).
    model_ids = list(await conn.scalars(select(models.c.id).where(models.c.project_id == pid)))
    if model_ids:
        for table in (inference_records, inference_rollups, inference_daily_rollups):
            await conn.execute(delete(table).where(table.c.model_id.in_(model_ids)))
    await conn.execute(delete(projects).where(projects.c.id == pid))


async def has_models(conn: Conn, pid: int) -> bool:
    return bool(await conn.scalar(select(exists().where(models.c.project_id == pid))))
