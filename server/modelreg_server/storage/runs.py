"""Queries on runs: the read statement, get, a page of runs, and the row-level
changes (description, labels, end). Creating a run is run_create.py.

Metric points and params logged later live in run_metrics.py, the filter fields
in run_filters.py. Reads return ``Run`` records; get and list are one prepared
statement each on the raw asyncpg connection, the latest metrics and outputs
being correlated subqueries that run for the returned rows only. A page of
runs is read through a cursor in chunks, handed to the caller as they come."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    FromClause,
    Select,
    Text,
    bindparam,
    delete,
    func,
    literal_column,
    select,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import JSON, aggregate_order_by

from modelreg_server.domain import errors
from modelreg_server.domain.datasets import RunRef
from modelreg_server.domain.names import run_name
from modelreg_server.domain.runs import Run, RunState
from modelreg_server.domain.types import ListQuery, VersionState
from modelreg_server.storage import filters, pagination
from modelreg_server.storage import projects as project_q
from modelreg_server.storage.run_filters import FIELDS
from modelreg_server.storage.sql import Statement, StatementCache
from modelreg_server.storage.store import Conn, RawConn
from modelreg_server.storage.tables import (
    model_versions,
    models,
    projects,
    run_labels,
    run_latest_metrics,
    runs,
)

ORDER_BY = ("start_time", "run_id")
_ORDER_KEYS = {"start_time": (runs.c.start_time, runs.c.id), "run_id": (runs.c.name,)}

PROJECT_ID = (
    select(projects.c.id).where(projects.c.name == bindparam("project", type_=Text))
).scalar_subquery()


def micros(col: Any) -> Any:
    """A time as whole microseconds since the epoch (exact: extract gives numeric)."""
    return sql_cast(func.extract("epoch", col) * 1_000_000, BigInteger)


def latest_of(lm: FromClause, run_id: Any) -> Any:
    """A run's latest points as a record holds them (``Run.latest_metrics``), from
    ``lm``: the table, or rows of its shape.

    Built as ``json``, not ``jsonb`` (here and for the outputs): the value only
    travels, and json is text put together as it goes, where jsonb builds a tree to
    print again (a page of 1,000 runs: 8.9 -> 7.0 ms on asyncpg)."""
    return (
        select(
            func.coalesce(
                func.json_object_agg(
                    lm.c.key,
                    func.json_build_array(sql_cast(lm.c.value, Text), lm.c.step, micros(lm.c.time)),
                    type_=JSON,
                ),
                literal_column("'{}'::json", JSON),
                type_=JSON,
            )
        )
        .where(lm.c.run_id == run_id)
        .scalar_subquery()
    )


def read(source: FromClause, latest: Any = None) -> Select[Any]:
    """What a run record is: every column of ``source`` (the table, or the row a
    statement just wrote), the project name the call was made with, each metric's
    latest point (``latest``, or the table's) and the model versions the run produced."""
    if latest is None:
        latest = latest_of(run_latest_metrics, source.c.id)
    v, m, p = model_versions.alias("ov"), models.alias("om"), projects.alias("op")
    outputs = (
        select(
            func.coalesce(
                func.json_agg(
                    aggregate_order_by(
                        func.json_build_array(p.c.name, m.c.name, v.c.version, v.c.artifact_uri),
                        v.c.create_time,
                        v.c.id,
                    ),
                    type_=JSON,
                ),
                literal_column("'[]'::json", JSON),
                type_=JSON,
            )
        )
        .select_from(v.join(m, m.c.id == v.c.model_id).join(p, p.c.id == m.c.project_id))
        .where(v.c.run_id == source.c.id, v.c.state != VersionState.DELETED.value)
        .scalar_subquery()
    )
    return select(
        *source.c,
        bindparam("project", type_=Text).label("project_name"),
        latest.label("latest_metrics"),
        outputs.label("outputs"),
    )


READ = read(runs)
_GET = Statement(
    READ.where(runs.c.project_id == PROJECT_ID, runs.c.name == bindparam("run", type_=Text))
)


async def not_found(conn: Conn, project: str, run: str) -> errors.NotFound:
    """NotFound for the project when that is what is missing, else for the run."""
    await project_q.id_of(conn, project)
    return errors.NotFound("run", run_name(project, run))


async def id_of(conn: Conn, project: str, run: str) -> int:
    rid = await conn.scalar(
        select(runs.c.id)
        .where(runs.c.project_id == PROJECT_ID, runs.c.name == run)
        .params(project=project)
    )
    if rid is None:
        raise await not_found(conn, project, run)
    return int(rid)


async def referenced_id(conn: Conn, ref: RunRef, field: str) -> int:
    """The row id of a run another resource references (a version's source_run, an
    evaluation's run): INVALID_ARGUMENT naming ``field`` when it does not exist."""
    found = await conn.scalar(
        select(runs.c.id)
        .join(projects, projects.c.id == runs.c.project_id)
        .where(projects.c.name == ref.project, runs.c.name == ref.run)
    )
    if found is None:
        raise errors.InvalidArgument(field, f"no such run: {run_name(ref.project, ref.run)}")
    return int(found)


async def fetch(raw: RawConn, project: str, run: str) -> Run | None:
    row = await raw.fetchrow(_GET.sql, *_GET.args({"project": project, "run": run}))
    return cast(Run | None, row)


# Pages

_PAGES = StatementCache()


def _page_statement(order: str, desc: bool, filter_text: str, after: bool) -> Select[Any]:
    keys = _ORDER_KEYS[order]
    where = [runs.c.project_id == PROJECT_ID, filters.compile_filter(filter_text, FIELDS)]
    if after:
        values = [bindparam(f"after_{i}", type_=k.type) for i, k in enumerate(keys)]
        where.append(pagination.after(keys, values, desc))
    return (
        READ.where(*where)
        .order_by(*(k.desc() if desc else k.asc() for k in keys))
        .limit(bindparam("limit", type_=BigInteger))
    )


# A page of runs is fetched in chunks through a cursor, the next asked for before
# the caller handles the last, so that PostgreSQL works out a chunk (its latest
# metrics and outputs) while this process turns the previous one into messages:
# ListRuns of 1,000 runs measured 13-14 ms in the handler this way, 15 ms in one
# fetch. The first chunk is small, to start early; the others at most MAX_CHUNK
# rows, so that a chunk waiting in the socket while this process is busy fits its
# buffer. A page smaller than CHUNKED_PAGE is one fetch: the cursor's extra round
# trips (BEGIN, one per chunk, COMMIT) would cost more than they save.
CHUNKED_PAGE = 200
FIRST_CHUNK = 64
MAX_CHUNK = 256


async def list_(
    raw: RawConn,
    project: str,
    q: ListQuery,
    tokens: pagination.PageTokens,
    take: Callable[[Sequence[Run]], object],
) -> str | None:
    """A page of runs, one statement, handed to ``take`` in order a chunk at a time:
    the next page's token ("" after the last page), or None when the page is empty
    (the caller tells an empty project from a missing one)."""
    order, desc = pagination.parse_order_by(q.order_by, ORDER_BY, "start_time")
    keys = _ORDER_KEYS[order]
    size = pagination.page_size(q.page_size)
    fp = pagination.fingerprint(q.filter, q.order_by, project)
    values: dict[str, Any] = {"project": project, "limit": size + 1}
    if q.page_token:
        key = pagination.check_key(tokens.decode(q.page_token, fp, len(keys)), keys)
        values.update({f"after_{i}": v for i, v in enumerate(key)})
    statement = _PAGES.get(
        (order, desc, q.filter, bool(q.page_token)),
        lambda: _page_statement(order, desc, q.filter, bool(q.page_token)),
    )
    args = statement.args(values)
    if size < CHUNKED_PAGE:
        rows = await raw.fetch(statement.sql, *args)
        page = rows[:size]
        if page:
            take(page)
        last, more = page[-1:], len(rows) > size
    else:
        last, more = await _chunks(raw, statement.sql, args, size, take)
    if not last:
        return None
    return tokens.encode(fp, [last[0][k.name] for k in keys]) if more else ""


async def _chunks(
    raw: RawConn, sql: str, args: Sequence[Any], size: int, take: Callable[[Sequence[Run]], object]
) -> tuple[list[Run], bool]:
    """The first ``size`` rows of ``sql`` (which has a LIMIT of ``size + 1``) to
    ``take`` in chunks: (the last row taken in a list, empty if none; whether
    another row followed it)."""
    fetched = taken = 0
    last: list[Run] = []
    more = False
    async with raw.transaction():
        cursor = await raw.cursor(sql, *args)
        n = FIRST_CHUNK
        pending: asyncio.Future[list[Run]] | None = asyncio.ensure_future(cursor.fetch(n))
        try:
            while pending is not None:
                rows = await pending
                pending = None
                fetched += len(rows)
                if len(rows) == n and fetched <= size:
                    # More may follow: ask for them now (one turn of the loop sends
                    # the request), and handle these while PostgreSQL works.
                    n = min(2 * n, MAX_CHUNK)
                    pending = asyncio.ensure_future(cursor.fetch(n))
                    await asyncio.sleep(0)
                chunk = rows[: size - taken]
                if chunk:
                    take(chunk)
                    taken += len(chunk)
                    last = chunk[-1:]
                more = more or len(rows) > len(chunk)
        finally:
            if pending is not None:
                # Let a fetch under way finish rather than cancel it: the
                # transaction then ends on an idle connection.
                await asyncio.wait([pending])
    return last, more


# Row-level reads and changes inside a transaction (SQLAlchemy connection)


async def lock(conn: Conn, project: str, run: str) -> tuple[int, int, RunState]:
    """Lock one run row against other changes (not against rows referencing it):
    (row id, revision, state)."""
    query = (
        select(runs.c.id, runs.c.revision, runs.c.state)
        .where(runs.c.project_id == PROJECT_ID, runs.c.name == run)
        .params(project=project)
        .with_for_update(of=runs, key_share=True)
    )
    row = (await conn.execute(query)).first()
    if row is None:
        raise await not_found(conn, project, run)
    return row.id, row.revision, RunState(row.state)


async def state_of(conn: Conn, project: str, run: str) -> tuple[int, RunState]:
    """(row id, state) of a run, without a lock."""
    query = (
        select(runs.c.id, runs.c.state)
        .where(runs.c.project_id == PROJECT_ID, runs.c.name == run)
        .params(project=project)
    )
    row = (await conn.execute(query)).first()
    if row is None:
        raise await not_found(conn, project, run)
    return row.id, RunState(row.state)


async def get_by_id(conn: Conn, run_id: int, project: str) -> Run:
    row = (await conn.execute(READ.where(runs.c.id == run_id), {"project": project})).one()
    return cast(Run, row._mapping)


async def update_(
    conn: Conn, run_id: int, values: Mapping[str, Any], labels: Mapping[str, str] | None
) -> None:
    if labels is not None:
        values = {**values, "labels": dict(labels)}
    await conn.execute(
        runs.update()
        .where(runs.c.id == run_id)
        .values(**values, revision=runs.c.revision + 1, update_time=func.now())
    )
    if labels is not None:
        await conn.execute(delete(run_labels).where(run_labels.c.run_id == run_id))
        if labels:
            await conn.execute(
                run_labels.insert(),
                [{"run_id": run_id, "key": k, "value": v} for k, v in labels.items()],
            )


async def end(conn: Conn, run_id: int, state: RunState) -> None:
    await update_(conn, run_id, {"state": state.value, "end_time": func.now()}, None)
