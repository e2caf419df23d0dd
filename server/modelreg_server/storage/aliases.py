"""Queries on aliases and their append-only history."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert

from modelreg_server.domain.types import Alias, AliasEvent, AliasEventKind, ListQuery, Page
from modelreg_server.storage import pagination
from modelreg_server.storage.store import Conn
from modelreg_server.storage.tables import alias_events, aliases, model_versions, models, projects

# What an Alias record is: the row, the number of the version it points at and
# the names it lives under.
READ = (
    select(
        *aliases.c,
        model_versions.c.version,
        models.c.name.label("model_name"),
        projects.c.name.label("project_name"),
    )
    .join(model_versions, model_versions.c.id == aliases.c.version_id)
    .join(models, models.c.id == aliases.c.model_id)
    .join(projects, projects.c.id == models.c.project_id)
)
# What an AliasEvent record is: the row.
READ_EVENTS = select(alias_events)


async def get(conn: Conn, model_id: int, alias: str, *, for_update: bool = False) -> Alias | None:
    query = READ.where(aliases.c.model_id == model_id, aliases.c.alias == alias)
    if for_update:
        query = query.with_for_update(of=aliases)
    row = (await conn.execute(query)).first()
    return None if row is None else cast(Alias, row._mapping)


async def get_by_name(conn: Conn, project: str, model: str, alias: str) -> Alias | None:
    query = READ.where(projects.c.name == project, models.c.name == model, aliases.c.alias == alias)
    row = (await conn.execute(query)).first()
    return None if row is None else cast(Alias, row._mapping)


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


async def list_(
    conn: Conn, model_id: int, q: ListQuery, tokens: pagination.PageTokens
) -> Page[Alias]:
    query = READ.where(aliases.c.model_id == model_id)
    found = await pagination.fetch_page(conn, query, [aliases.c.alias], False, q, tokens, model_id)
    return cast(Page[Alias], found)


async def history(
    conn: Conn, model_id: int, alias: str, q: ListQuery, tokens: pagination.PageTokens
) -> Page[AliasEvent]:
    query = READ_EVENTS.where(alias_events.c.model_id == model_id, alias_events.c.alias == alias)
    found = await pagination.fetch_page(
        conn, query, [alias_events.c.id], True, q, tokens, model_id, alias
    )
    return cast(Page[AliasEvent], found)


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
    return None if row is None else cast(Any, row.from_version)
