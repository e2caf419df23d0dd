"""What LogRunData writes (metric points, params added later) and the history
of one metric.

Points go in with COPY on the transaction's own asyncpg connection: the one bulk
path, at a few hundred thousand rows a second. Each key's latest point is then
recomputed from the history's index (run, key, step, id), which holds it at the
end of each key's range: one index probe per key logged, and it is right however
the points of one call and earlier calls interleave."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from sqlalchemy import BigInteger, Text, bindparam, func, select, text, tuple_
from sqlalchemy.dialects.postgresql import JSONB

from modelreg_server.domain import errors
from modelreg_server.domain.runs import MetricPoint, Point
from modelreg_server.domain.types import ListQuery, Page, ParamValue
from modelreg_server.storage import pagination
from modelreg_server.storage.runs import PROJECT_ID, param_copy, param_rows
from modelreg_server.storage.sql import Statement
from modelreg_server.storage.store import Conn, RawConn
from modelreg_server.storage.tables import run_metrics, run_params, runs

_COPY_COLUMNS = ("run_id", "key", "step", "value", "time")
DEFAULT_HISTORY_PAGE = 1_000
MAX_HISTORY_PAGE = 10_000

_LATEST = text(
    """
    WITH latest AS (
        INSERT INTO run_latest_metrics AS l (run_id, key, value, step, time, metric_id)
        SELECT :run_id, k.key, m.value, m.step, m.time, m.id
        FROM unnest(CAST(:keys AS text[])) AS k(key)
        CROSS JOIN LATERAL (
            SELECT value, step, time, id FROM run_metrics
            WHERE run_id = :run_id AND key = k.key
            ORDER BY step DESC, id DESC
            LIMIT 1
        ) AS m
        ON CONFLICT (run_id, key) DO UPDATE
        SET value = excluded.value, step = excluded.step, time = excluded.time,
            metric_id = excluded.metric_id
        RETURNING 1
    )
    -- (a data-modifying CTE runs to completion whether read or not)
    UPDATE runs SET revision = revision + 1, update_time = now() WHERE id = :run_id
    """
)


async def params_set(conn: Conn, run_id: int, keys: Sequence[str]) -> dict[str, tuple[str, str]]:
    """The params of ``keys`` the run has already: key -> (kind, exact text)."""
    rp = run_params
    rows = await conn.execute(
        select(rp.c.key, rp.c.kind, rp.c.text_value).where(
            rp.c.run_id == run_id, rp.c.key.in_(list(keys))
        )
    )
    return {row.key: (row.kind, row.text_value) for row in rows}


async def insert_params(conn: Conn, run_id: int, params: Mapping[str, ParamValue]) -> int:
    """Add params the run does not have yet; the run's param count after."""
    count = await conn.scalar(
        runs.update()
        .where(runs.c.id == run_id)
        .values(param_list=runs.c.param_list.op("||")(bindparam("added", type_=JSONB)))
        .returning(func.jsonb_array_length(runs.c.param_list)),
        {"added": param_copy(params)},
    )
    await conn.execute(
        run_params.insert(), [{"run_id": run_id, **row} for row in param_rows(params)]
    )
    return int(count or 0)


async def append(conn: Conn, run_id: int, points: Sequence[Point]) -> None:
    """Append metric points (COPY) and bring the latest point of their keys up to date."""
    # The SQLAlchemy connection has begun its transaction (the run row is locked),
    # so COPY on the driver's connection is part of it.
    raw: Any = (await conn.get_raw_connection()).driver_connection
    await raw.copy_records_to_table(
        "run_metrics",
        records=[(run_id, k, s, v, t) for k, s, v, t in points],
        columns=_COPY_COLUMNS,
    )
    keys = sorted({p[0] for p in points})
    await conn.execute(_LATEST, {"run_id": run_id, "keys": keys})


async def touch(conn: Conn, run_id: int) -> None:
    await conn.execute(
        runs.update()
        .where(runs.c.id == run_id)
        .values(revision=runs.c.revision + 1, update_time=func.now())
    )


# History

_RUN_ID = (
    select(runs.c.id)
    .where(runs.c.project_id == PROJECT_ID, runs.c.name == bindparam("run", type_=Text))
    .scalar_subquery()
)
_HISTORY_KEYS = (run_metrics.c.step, run_metrics.c.id)


# What a MetricPoint record is.
READ_POINTS = select(
    run_metrics.c.key, run_metrics.c.step, run_metrics.c.id, run_metrics.c.value, run_metrics.c.time
)


def _history(after: bool) -> Statement:
    rm = run_metrics
    query = READ_POINTS.where(rm.c.run_id == _RUN_ID, rm.c.key == bindparam("key", type_=Text))
    if after:
        query = query.where(
            tuple_(*_HISTORY_KEYS)
            > tuple_(bindparam("after_0", type_=BigInteger), bindparam("after_1", type_=BigInteger))
        )
    return Statement(query.order_by(*_HISTORY_KEYS).limit(bindparam("limit", type_=BigInteger)))


HISTORY = _history(False)
_HISTORY_AFTER = _history(True)


def history_page_size(requested: int) -> int:
    if requested < 0:
        raise errors.InvalidArgument("page_size", "must not be negative")
    return min(requested or DEFAULT_HISTORY_PAGE, MAX_HISTORY_PAGE)


async def history(
    raw: RawConn, project: str, run: str, key: str, q: ListQuery, tokens: pagination.PageTokens
) -> Page[MetricPoint] | None:
    """A page of one metric's points by (step, id); None when the page is empty
    (the caller tells a missing run from a key never logged)."""
    size = history_page_size(q.page_size)
    fp = pagination.fingerprint(project, run, key)
    values: dict[str, Any] = {"project": project, "run": run, "key": key, "limit": size + 1}
    statement = HISTORY
    if q.page_token:
        after = pagination.check_key(tokens.decode(q.page_token, fp, 2), _HISTORY_KEYS)
        values.update(after_0=after[0], after_1=after[1])
        statement = _HISTORY_AFTER
    rows = await raw.fetch(statement.sql, *statement.args(values))
    if not rows:
        return None
    return cast(Page[MetricPoint], pagination.page(rows, size, fp, ("step", "id"), tokens))
