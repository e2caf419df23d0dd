"""Queries on registered models."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from sqlalchemy import ColumnElement, delete, exists, func, select, update
from sqlalchemy.exc import IntegrityError

from modelreg_server.domain import errors
from modelreg_server.domain.names import etag, model_name
from modelreg_server.domain.types import ListQuery, Model, Page
from modelreg_server.storage import filters, pagination
from modelreg_server.storage import projects as project_q
from modelreg_server.storage.store import Conn
from modelreg_server.storage.tables import (
    inference_daily_rollups,
    inference_records,
    inference_rollups,
    model_versions,
    models,
    projects,
)

FIELDS: Mapping[str, filters.FieldCompiler] = {
    "name": filters.column(models.c.name, "str"),
    "create_time": filters.column(models.c.create_time, "time"),
    "update_time": filters.column(models.c.update_time, "time"),
    "version_count": filters.column(models.c.version_count, "int"),
    "labels.": filters.json_labels(models.c.labels),
}
ORDER_BY = ("name", "create_time", "update_time")
# What a Model record is: the row and its project's name.
READ = select(*models.c, projects.c.name.label("project_name")).join(
    projects, projects.c.id == models.c.project_id
)


def _named(project: str, name: str) -> ColumnElement[bool]:
    return (projects.c.name == project) & (models.c.name == name)


async def _not_found(conn: Conn, project: str, name: str) -> errors.NotFound:
    """NotFound for the project when that is what is missing, else for the model."""
    await project_q.id_of(conn, project)
    return errors.NotFound("model", model_name(project, name))


async def create(
    conn: Conn, project: str, name: str, description: str, labels: Mapping[str, str]
) -> Model:
    pid = await project_q.id_of(conn, project)
    try:
        mid = await conn.scalar(
            models.insert()
            .values(project_id=pid, name=name, description=description, labels=dict(labels))
            .returning(models.c.id)
        )
    except IntegrityError as exc:
        raise errors.AlreadyExists("model", model_name(project, name)) from exc
    return await get_by_id(conn, int(mid))


async def get(conn: Conn, project: str, name: str) -> Model:
    row = (await conn.execute(READ.where(_named(project, name)))).first()
    if row is None:
        raise await _not_found(conn, project, name)
    return cast(Model, row._mapping)


async def get_by_id(conn: Conn, mid: int) -> Model:
    return cast(Model, (await conn.execute(READ.where(models.c.id == mid))).one()._mapping)


async def lock(conn: Conn, project: str, name: str) -> tuple[int, str]:
    """Lock a model row for a change: (row id, etag)."""
    row = (
        await conn.execute(
            select(models.c.id, models.c.revision)
            .join(projects, projects.c.id == models.c.project_id)
            .where(_named(project, name))
            .with_for_update(of=models)
        )
    ).first()
    if row is None:
        raise await _not_found(conn, project, name)
    return row.id, etag(row.revision)


async def id_of(conn: Conn, project: str, name: str, *, for_update: bool = False) -> int:
    if for_update:
        return (await lock(conn, project, name))[0]
    mid = await conn.scalar(
        select(models.c.id)
        .join(projects, projects.c.id == models.c.project_id)
        .where(_named(project, name))
    )
    if mid is None:
        raise await _not_found(conn, project, name)
    return int(mid)


async def list_(
    conn: Conn, project: str, q: ListQuery, tokens: pagination.PageTokens
) -> Page[Model]:
    order, desc = pagination.parse_order_by(q.order_by, ORDER_BY, "name")
    pid = await project_q.id_of(conn, project)
    query = READ.where(models.c.project_id == pid, filters.compile_filter(q.filter, FIELDS))
    found = await pagination.fetch_page(
        conn, query, [models.c[order], models.c.id], desc, q, tokens, project
    )
    return cast(Page[Model], found)


async def update_(conn: Conn, mid: int, values: Mapping[str, Any]) -> Model:
    await conn.execute(
        update(models)
        .where(models.c.id == mid)
        .values(**values, revision=models.c.revision + 1, update_time=func.now())
    )
    return await get_by_id(conn, mid)


async def delete_(conn: Conn, mid: int) -> None:
    """Delete the model, and its inference records and rollups (no foreign keys;
    the model row goes first, under its lock, so a batch of records being written
    either committed before or finds the model gone)."""
    await conn.execute(delete(models).where(models.c.id == mid))
    for table in (inference_records, inference_rollups, inference_daily_rollups):
        await conn.execute(delete(table).where(table.c.model_id == mid))


async def has_versions(conn: Conn, mid: int) -> bool:
    return bool(await conn.scalar(select(exists().where(model_versions.c.model_id == mid))))
