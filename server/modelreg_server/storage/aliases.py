"""Queries on aliases and their append-only history."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, Select, delete, func, select
from sqlalchemy.dialects.postgresql import insert

from modelreg_server.domain import errors
from modelreg_server.domain.types import Alias, AliasEvent, AliasEventKind, ListQuery, Page
from modelreg_server.storage import pagination
from modelreg_server.storage.projects import etag
from modelreg_server.storage.store import Conn
from modelreg_server.storage.tables import alias_events, aliases, model_versions, models, projects


def _build_select() -> Select[Any]:
    return (
        select(
            aliases,
            model_versions.c.version,
            models.c.name.label("model_name"),
            projects.c.name.label("project_name"),
        )
        .join(model_versions, model_versions.c.id == aliases.c.version_id)
        .join(models, models.c.id == aliases.c.model_id)
        .join(projects, projects.c.id == models.c.project_id)
    )


_SELECT = _build_select()


def _alias(row: Row[Any]) -> Alias:
    return Alias(
        project=row.project_name,
        model=row.model_name,
        alias=row.alias,
        version=row.version,
        updated_by=row.updated_by,
        update_time=row.update_time,
        etag=etag(row.revision),
    )


def _event(row: Row[Any]) -> AliasEvent:
    return AliasEvent(
        alias=row.alias,
        from_version=row.from_version,
        to_version=row.to_version,
        actor=row.actor,
        reason=row.reason,
        event_time=row.event_time,
        sequence=row.id,
        kind=AliasEventKind(row.kind),
    )


def _name(project: str, model: str, alias: str) -> str:
    return f"projects/{project}/models/{model}/aliases/{alias}"


async def get(conn: Conn, project: str, model: str, alias: str) -> Alias:
    row = (
        await conn.execute(
            _SELECT.where(
                projects.c.name == project, models.c.name == model, aliases.c.alias == alias
            )
        )
    ).first()
    if row is None:
        raise errors.NotFound("alias", _name(project, model, alias))
    return _alias(row)


async def get_locked(conn: Conn, model_id: int, alias: str) -> Alias | None:
    row = (
        await conn.execute(
            _SELECT.where(aliases.c.model_id == model_id, aliases.c.alias == alias).with_for_update(
                of=aliases
            )
        )
    ).first()
    return None if row is None else _alias(row)


async def put(conn: Conn, model_id: int, alias: str, version_id: int, actor: str) -> None:
    stmt = insert(aliases).values(
        model_id=model_id, alias=alias, version_id=version_id, updated_by=actor
    )
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[aliases.c.model_id, aliases.c.alias],
            set_={
                "version_id": stmt.excluded.version_id,
                "updated_by": stmt.excluded.updated_by,
                "revision": aliases.c.revision + 1,
                "update_time": func.now(),
            },
        )
    )


async def remove(conn: Conn, model_id: int, alias: str) -> None:
    await conn.execute(
        delete(aliases).where(aliases.c.model_id == model_id, aliases.c.alias == alias)
    )


async def add_event(
    conn: Conn,
    model_id: int,
    alias: str,
    kind: AliasEventKind,
    from_version: int | None,
    to_version: int | None,
    actor: str,
    reason: str,
) -> None:
    await conn.execute(
        alias_events.insert().values(
            model_id=model_id,
            alias=alias,
            kind=kind.value,
            from_version=from_version,
            to_version=to_version,
            actor=actor,
            reason=reason,
        )
    )


async def list_for_model(conn: Conn, model_id: int) -> list[Alias]:
    rows = await conn.execute(
        _SELECT.where(aliases.c.model_id == model_id).order_by(aliases.c.alias)
    )
    return [_alias(r) for r in rows]


async def history(conn: Conn, model_id: int, alias: str, q: ListQuery) -> Page[AliasEvent]:
    query = select(alias_events).where(
        alias_events.c.model_id == model_id, alias_events.c.alias == alias
    )
    return await pagination.fetch_page(
        conn, query, [alias_events.c.id], True, q, lambda r: [r.id], _event, model_id, alias
    )


async def last_set_to(conn: Conn, model_id: int, alias: str, version: int) -> int | None:
    """The version the alias pointed at before the latest SET that moved it to ``version``.

    Rolling back follows these forward moves backwards, so repeated rollbacks
    walk the history (3 -> 2 -> 1) instead of toggling between two versions.
    """
    row = (
        await conn.execute(
            select(alias_events.c.from_version)
            .where(
                alias_events.c.model_id == model_id,
                alias_events.c.alias == alias,
                alias_events.c.kind == AliasEventKind.SET.value,
                alias_events.c.to_version == version,
            )
            .order_by(alias_events.c.id.desc())
            .limit(1)
        )
    ).first()
    return None if row is None else row.from_version
