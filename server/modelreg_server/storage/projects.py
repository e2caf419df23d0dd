"""Queries on projects and registered models."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Row, delete, exists, func, select, update
from sqlalchemy.exc import IntegrityError

from modelreg_server.domain import errors
from modelreg_server.domain.types import ListQuery, Model, Page, Project
from modelreg_server.storage import filters, pagination
from modelreg_server.storage.store import Conn
from modelreg_server.storage.tables import model_versions, models, projects


def etag(revision: int) -> str:
    return f'W/"{revision}"'


def _project(row: Row[Any]) -> Project:
    return Project(
        name=row.name,
        description=row.description,
        labels=dict(row.labels),
        create_time=row.create_time,
        update_time=row.update_time,
        etag=etag(row.revision),
    )


def _model(row: Row[Any]) -> Model:
    return Model(
        project=row.project_name,
        name=row.name,
        description=row.description,
        labels=dict(row.labels),
        version_count=row.version_count,
        create_time=row.create_time,
        update_time=row.update_time,
        etag=etag(row.revision),
    )


def _json_labels(col: Any) -> filters.FieldCompiler:
    def compile_(key: str, op: str, value: filters.Value) -> Any:
        return filters.OPS[op](col[key].astext, filters.coerce(value, "str", f"labels.{key}"))

    return compile_


PROJECT_FIELDS: Mapping[str, filters.FieldCompiler] = {
    "name": filters.column(projects.c.name, "str"),
    "create_time": filters.column(projects.c.create_time, "time"),
    "update_time": filters.column(projects.c.update_time, "time"),
    "labels.": _json_labels(projects.c.labels),
}
MODEL_FIELDS: Mapping[str, filters.FieldCompiler] = {
    "name": filters.column(models.c.name, "str"),
    "create_time": filters.column(models.c.create_time, "time"),
    "update_time": filters.column(models.c.update_time, "time"),
    "version_count": filters.column(models.c.version_count, "int"),
    "labels.": _json_labels(models.c.labels),
}


async def create_project(
    conn: Conn, name: str, description: str, labels: Mapping[str, str]
) -> Project:
    try:
        row = (
            await conn.execute(
                projects.insert()
                .values(name=name, description=description, labels=dict(labels))
                .returning(*projects.c)
            )
        ).one()
    except IntegrityError as exc:
        raise errors.AlreadyExists("project", f"projects/{name}") from exc
    return _project(row)


async def get_project(conn: Conn, name: str) -> Project:
    row = (await conn.execute(select(projects).where(projects.c.name == name))).first()
    if row is None:
        raise errors.NotFound("project", f"projects/{name}")
    return _project(row)


async def project_id(conn: Conn, name: str) -> int:
    pid = await conn.scalar(select(projects.c.id).where(projects.c.name == name))
    if pid is None:
        raise errors.NotFound("project", f"projects/{name}")
    return int(pid)


async def lock_project(conn: Conn, name: str) -> tuple[int, str]:
    """Lock a project row for a change: (row id, etag)."""
    row = (
        await conn.execute(
            select(projects.c.id, projects.c.revision)
            .where(projects.c.name == name)
            .with_for_update()
        )
    ).first()
    if row is None:
        raise errors.NotFound("project", f"projects/{name}")
    return row.id, etag(row.revision)


async def list_projects(conn: Conn, q: ListQuery) -> Page[Project]:
    order, desc = pagination.parse_order_by(q.order_by, ("name", "create_time"), "name")
    keys = [projects.c[order], projects.c.id]
    query = select(projects).where(filters.compile_filter(q.filter, PROJECT_FIELDS))
    return await pagination.fetch_page(
        conn, query, keys, desc, q, lambda r: [r._mapping[order], r.id], _project
    )


async def update_project(conn: Conn, name: str, values: Mapping[str, Any]) -> Project:
    row = (
        await conn.execute(
            update(projects)
            .where(projects.c.name == name)
            .values(**values, revision=projects.c.revision + 1, update_time=func.now())
            .returning(*projects.c)
        )
    ).first()
    if row is None:
        raise errors.NotFound("project", f"projects/{name}")
    return _project(row)


async def delete_project(conn: Conn, name: str) -> None:
    await conn.execute(delete(projects).where(projects.c.name == name))


async def project_has_models(conn: Conn, pid: int) -> bool:
    return bool(await conn.scalar(select(exists().where(models.c.project_id == pid))))


def _model_select() -> Any:
    return select(*models.c, projects.c.name.label("project_name")).join(
        projects, projects.c.id == models.c.project_id
    )


async def create_model(
    conn: Conn, project: str, name: str, description: str, labels: Mapping[str, str]
) -> Model:
    pid = await project_id(conn, project)
    try:
        row = (
            await conn.execute(
                models.insert()
                .values(project_id=pid, name=name, description=description, labels=dict(labels))
                .returning(models.c.id)
            )
        ).one()
    except IntegrityError as exc:
        raise errors.AlreadyExists("model", f"projects/{project}/models/{name}") from exc
    return _model((await conn.execute(_model_select().where(models.c.id == row.id))).one())


async def get_model(conn: Conn, project: str, name: str) -> Model:
    query = _model_select().where(projects.c.name == project, models.c.name == name)
    row = (await conn.execute(query)).first()
    if row is None:
        await project_id(conn, project)  # NotFound names the project when that is what's missing
        raise errors.NotFound("model", f"projects/{project}/models/{name}")
    return _model(row)


async def lock_model(conn: Conn, project: str, name: str) -> tuple[int, str]:
    """Lock a model row for a change: (row id, etag)."""
    row = (
        await conn.execute(
            select(models.c.id, models.c.revision)
            .join(projects, projects.c.id == models.c.project_id)
            .where(projects.c.name == project, models.c.name == name)
            .with_for_update(of=models)
        )
    ).first()
    if row is None:
        await project_id(conn, project)  # NotFound names the project when that is what's missing
        raise errors.NotFound("model", f"projects/{project}/models/{name}")
    return row.id, etag(row.revision)


async def model_id(conn: Conn, project: str, name: str, *, for_update: bool = False) -> int:
    if for_update:
        return (await lock_model(conn, project, name))[0]
    mid = await conn.scalar(
        select(models.c.id)
        .join(projects, projects.c.id == models.c.project_id)
        .where(projects.c.name == project, models.c.name == name)
    )
    if mid is None:
        await project_id(conn, project)
        raise errors.NotFound("model", f"projects/{project}/models/{name}")
    return int(mid)


async def list_models(conn: Conn, project: str, q: ListQuery) -> Page[Model]:
    order, desc = pagination.parse_order_by(
        q.order_by, ("name", "create_time", "update_time"), "name"
    )
    pid = await project_id(conn, project)
    keys = [models.c[order], models.c.id]
    query = _model_select().where(
        models.c.project_id == pid, filters.compile_filter(q.filter, MODEL_FIELDS)
    )
    return await pagination.fetch_page(
        conn, query, keys, desc, q, lambda r: [r._mapping[order], r.id], _model, project
    )


async def update_model(conn: Conn, mid: int, values: Mapping[str, Any]) -> Model:
    await conn.execute(
        update(models)
        .where(models.c.id == mid)
        .values(**values, revision=models.c.revision + 1, update_time=func.now())
    )
    return _model((await conn.execute(_model_select().where(models.c.id == mid))).one())


async def delete_model(conn: Conn, mid: int) -> None:
    await conn.execute(delete(models).where(models.c.id == mid))


async def model_has_versions(conn: Conn, mid: int) -> bool:
    return bool(await conn.scalar(select(exists().where(model_versions.c.model_id == mid))))
