"""Queries on model versions: the read statement, get by number/alias/latest, a
page of versions, and the row-level changes (labels, description, state).

Registration lives in register.py, the filter fields in version_filters.py.

Reads return records (domain ``ModelVersion``: a row of ``read()``). Get and list
run on the raw asyncpg connection as statements compiled once; the model is
resolved by a scalar subquery, so a page is one round trip and its plan starts
from the (model_id, ...) indexes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    FromClause,
    Select,
    Text,
    bindparam,
    case,
    delete,
    func,
    literal_column,
    select,
)
from sqlalchemy import (
    cast as sql_cast,
)
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by, array

from modelreg_server.domain import errors
from modelreg_server.domain.names import version_name
from modelreg_server.domain.types import ListQuery, ModelVersion, Page, VersionRef, VersionState
from modelreg_server.storage import filters, pagination
from modelreg_server.storage import models as model_q
from modelreg_server.storage.sql import Statement, StatementCache
from modelreg_server.storage.store import Conn, RawConn
from modelreg_server.storage.tables import aliases, models, projects, version_labels
from modelreg_server.storage.tables import model_versions as mv
from modelreg_server.storage.version_filters import FIELDS

LATEST = "latest"
ORDER_BY = ("version", "create_time")

# The model named by the call's `project` and `model` arguments, as a scalar
# subquery: the planner resolves it once and walks the version indexes with it.
MODEL_ID = (
    select(models.c.id)
    .join(projects, projects.c.id == models.c.project_id)
    .where(
        projects.c.name == bindparam("project", type_=Text),
        models.c.name == bindparam("model", type_=Text),
    )
    .scalar_subquery()
)


def read(source: FromClause) -> Select[Any]:
    """What a version record is: every column of ``source`` (the table, or the
    rows registration just inserted), the names the call was made with, the
    aliases pointing at it and its parent's name parts.

    The alias and parent columns are correlated subqueries: they run only for the
    rows returned, after the page is cut."""
    pv, pm, pp = mv.alias("pv"), models.alias("pm"), projects.alias("pp")
    alias_names = (
        select(
            func.coalesce(
                func.array_agg(aggregate_order_by(aliases.c.alias, aliases.c.alias)),
                literal_column("'{}'::text[]", ARRAY(Text)),
            )
        )
        .where(aliases.c.version_id == source.c.id)
        .scalar_subquery()
    )
    parent = (
        select(array([pp.c.name, pm.c.name, sql_cast(pv.c.version, Text)]))
        .select_from(pv.join(pm, pm.c.id == pv.c.model_id).join(pp, pp.c.id == pm.c.project_id))
        .where(pv.c.id == source.c.parent_id)
        .scalar_subquery()
    )
    return select(
        *source.c,
        bindparam("project", type_=Text).label("project_name"),
        bindparam("model", type_=Text).label("model_name"),
        alias_names.label("alias_names"),
        # Most versions have no parent: skip the lookup for them.
        case((source.c.parent_id.is_(None), None), else_=parent).label("parent"),
    )


READ = read(mv)


def _selector_kind(selector: str) -> str:
    if selector.isdigit():
        return "number"
    return "latest" if selector == LATEST else "alias"


def _by_ref(query: Select[Any], kind: str) -> Select[Any]:
    """``query`` narrowed to one version of MODEL_ID by `number`, `alias` or latest."""
    query = query.where(mv.c.model_id == MODEL_ID)
    if kind == "number":
        return query.where(mv.c.version == bindparam("number", type_=BigInteger))
    if kind == "latest":
        return (
            query.where(mv.c.state == VersionState.READY.value)
            .order_by(mv.c.version.desc())
            .limit(1)
        )
    # Not correlated with the outer row: the planner resolves it once and fetches one
    # version by primary key (correlated, it may scan every version of the table).
    target = (
        select(aliases.c.version_id)
        .where(aliases.c.model_id == MODEL_ID, aliases.c.alias == bindparam("alias", type_=Text))
        .scalar_subquery()
    )
    return query.where(mv.c.id == target)


def _ref_values(ref: VersionRef) -> dict[str, Any]:
    values: dict[str, Any] = {"project": ref.project, "model": ref.model}
    kind = _selector_kind(ref.selector)
    if kind == "number":
        values["number"] = int(ref.selector)
    elif kind == "alias":
        values["alias"] = ref.selector
    return values


# The hot read: one version by number, alias or latest, as one prepared statement.
_GET = {kind: Statement(_by_ref(READ, kind)) for kind in ("number", "latest", "alias")}


async def not_found(conn: Conn, ref: VersionRef) -> errors.NotFound:
    """The most precise NotFound for a missing version: project, model or version."""
    await model_q.id_of(conn, ref.project, ref.model)  # raises for project/model
    kind = "version" if ref.selector.isdigit() else "alias"
    return errors.NotFound(kind, version_name(ref.project, ref.model, ref.selector))


async def fetch(conn: RawConn, ref: VersionRef) -> ModelVersion | None:
    """One version by number, alias or latest on a raw connection; None if absent."""
    statement = _GET[_selector_kind(ref.selector)]
    row = await conn.fetchrow(statement.sql, *statement.args(_ref_values(ref)))
    return cast(ModelVersion | None, row)


# Pages


_PAGES = StatementCache()


def _page_statement(
    order: str, desc: bool, filter_text: str, after: bool, deleted: bool
) -> Select[Any]:
    keys = [mv.c[order], mv.c.version]
    where: list[ColumnElement[bool]] = [
        mv.c.model_id == MODEL_ID,
        filters.compile_filter(filter_text, FIELDS),
    ]
    if not deleted:
        where.append(mv.c.state != VersionState.DELETED.value)
    if after:
        values = [bindparam(f"after_{i}", type_=k.type) for i, k in enumerate(keys)]
        where.append(pagination.after(keys, values, desc))
    return (
        READ.where(*where)
        .order_by(*(k.desc() if desc else k.asc() for k in keys))
        .limit(bindparam("limit", type_=BigInteger))
    )


async def list_(
    raw: RawConn,
    project: str,
    model: str,
    q: ListQuery,
    tokens: pagination.PageTokens,
    *,
    show_deleted: bool,
) -> Page[ModelVersion] | None:
    """A page of versions, one statement (compiled once per filter and order).
    None when the page is empty: the caller tells an empty model from a missing one."""
    order, desc = pagination.parse_order_by(q.order_by, ORDER_BY, "version")
    size = pagination.page_size(q.page_size)
    fp = pagination.fingerprint(q.filter, q.order_by, project, model, show_deleted)
    values: dict[str, Any] = {"project": project, "model": model, "limit": size + 1}
    if q.page_token:
        key = pagination.check_key(tokens.decode(q.page_token, fp, 2), [mv.c[order], mv.c.version])
        values.update(after_0=key[0], after_1=key[1])
    statement = _PAGES.get(
        (order, desc, q.filter, bool(q.page_token), show_deleted),
        lambda: _page_statement(order, desc, q.filter, bool(q.page_token), show_deleted),
    )
    rows = await raw.fetch(statement.sql, *statement.args(values))
    if not rows:
        return None
    return cast(Page[ModelVersion], pagination.page(rows, size, fp, (order, "version"), tokens))


# Row-level reads and changes inside a transaction (SQLAlchemy connection)


def _by_ref_statement(columns: Sequence[Any], ref: VersionRef) -> Select[Any]:
    query = select(*columns)
    return _by_ref(query, _selector_kind(ref.selector)).params(_ref_values(ref))


async def lock(conn: Conn, ref: VersionRef) -> tuple[int, int, int, str]:
    """Lock one version row: (row id, version number, revision, state)."""
    query = _by_ref_statement((mv.c.id, mv.c.version, mv.c.revision, mv.c.state), ref)
    row = (await conn.execute(query.with_for_update(of=mv))).first()
    if row is None:
        raise await not_found(conn, ref)
    return row.id, row.version, row.revision, row.state


async def resolve_id(conn: Conn, ref: VersionRef) -> tuple[int, int, str]:
    """(row id, version number, state) of a version, by number, alias or latest."""
    query = _by_ref_statement((mv.c.id, mv.c.version, mv.c.state), ref)
    row = (await conn.execute(query)).first()
    if row is None:
        raise await not_found(conn, ref)
    return row.id, row.version, row.state


async def get_by_id(conn: Conn, version_id: int, project: str, model: str) -> ModelVersion:
    query = READ.where(mv.c.id == version_id)
    row = (await conn.execute(query, {"project": project, "model": model})).one()
    return cast(ModelVersion, row._mapping)


async def update_(
    conn: Conn, version_id: int, values: Mapping[str, Any], labels: Mapping[str, str] | None
) -> None:
    if labels is not None:
        values = {**values, "labels": dict(labels)}
    await conn.execute(
        mv.update()
        .where(mv.c.id == version_id)
        .values(**values, revision=mv.c.revision + 1, update_time=func.now())
    )
    if labels is not None:
        await conn.execute(delete(version_labels).where(version_labels.c.version_id == version_id))
        if labels:
            await conn.execute(
                version_labels.insert(),
                [{"version_id": version_id, "key": k, "value": v} for k, v in labels.items()],
            )


async def set_state(conn: Conn, version_id: int, state: VersionState) -> None:
    await update_(conn, version_id, {"state": state.value}, None)


async def aliases_of(conn: Conn, version_id: int) -> Sequence[str]:
    rows = await conn.execute(
        select(aliases.c.alias).where(aliases.c.version_id == version_id).order_by(aliases.c.alias)
    )
    return [r.alias for r in rows]
