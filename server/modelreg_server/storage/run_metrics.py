"""What LogRunData and EndRun write (metric points, params added later) and the
history of one metric.

A call of a few points and no params (the common one: a training loop's last
step, a buffered end) is one statement on a raw connection (``append``): the run
row updated under its lock, the points inserted from arrays, the latest points
upserted and the request_id recorded, or nothing written when the run is not
RUNNING (the caller then takes the transaction path, which says why).

Otherwise points go in with COPY on the transaction's own asyncpg connection: the one bulk
path, at a few hundred thousand rows a second. Calls on one run do not wait for
each other while they copy: the run row is locked only at the end (``finish``),
which re-checks that the run is still RUNNING, adds the new params to its read
copy and bumps its revision. Each key's latest point is then recomputed from the
history's index (run, key, step, id), which holds it at the end of each key's
range: one index probe per key logged, right however the points of one call and
of other calls interleave.

Locks are taken in one order, so concurrent calls cannot deadlock: param rows
(keys sorted), then the run row, then latest-point rows (keys sorted)."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    DateTime,
    Double,
    Select,
    Text,
    bindparam,
    column,
    func,
    insert,
    literal,
    select,
    text,
    true,
    tuple_,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, distinct_on
from sqlalchemy.dialects.postgresql import insert as pg_insert

from modelreg_server.domain import errors
from modelreg_server.domain.runs import MetricPoint, Point, RunState
from modelreg_server.domain.types import ListQuery, Page, ParamValue
from modelreg_server.storage import pagination, requests
from modelreg_server.storage.recorded import fetch_recorded, record_request, request_values
from modelreg_server.storage.runs import PROJECT_ID, latest_of, read
from modelreg_server.storage.sql import Statement
from modelreg_server.storage.store import Conn, RawConn
from modelreg_server.storage.tables import run_latest_metrics, run_metrics, run_params, runs
from modelreg_server.storage.typed_rows import param_copy, param_rows

_COPY_COLUMNS = ("run_id", "key", "step", "value", "time")
# Up to this many points a call appends them in one statement (``append``); more
# go in with COPY.
MAX_STATEMENT_POINTS = 1_000
DEFAULT_HISTORY_PAGE = 1_000
MAX_HISTORY_PAGE = 10_000

# The guard keeps the latest point if a concurrent call committed a later one
# than this statement's snapshot saw.
_LATEST = text(
    """
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
    WHERE (excluded.step, excluded.metric_id) > (l.step, l.metric_id)
    """
)


async def insert_params(
    conn: Conn, run_id: int, params: Mapping[str, ParamValue]
) -> tuple[list[str], dict[str, tuple[str, str]]]:
    """Insert the params the run does not have. Returns the keys inserted, and
    (kind, exact text) of the others as they are set (a concurrent call setting
    one first is waited for)."""
    rows = sorted(param_rows(params), key=lambda row: str(row["key"]))
    rp = run_params
    inserted = await conn.execute(
        pg_insert(rp)
        .values([{"run_id": run_id, **row} for row in rows])
        .on_conflict_do_nothing(index_elements=[rp.c.run_id, rp.c.key])
        .returning(rp.c.key)
    )
    new = [row.key for row in inserted]
    others = set(params) - set(new)
    existing: dict[str, tuple[str, str]] = {}
    if others:
        found = await conn.execute(
            select(rp.c.key, rp.c.kind, rp.c.text_value).where(
                rp.c.run_id == run_id, rp.c.key.in_(sorted(others))
            )
        )
        existing = {row.key: (row.kind, row.text_value) for row in found}
    return new, existing


async def copy_points(conn: Conn, run_id: int, points: Sequence[Point]) -> None:
    """Append metric points with COPY, in the caller's transaction."""
    # The SQLAlchemy connection has begun its transaction (the caller has run a
    # statement on it), so COPY on the driver's connection is part of it.
    raw: Any = (await conn.get_raw_connection()).driver_connection
    await raw.copy_records_to_table(
        "run_metrics",
        records=[(run_id, k, s, v, t) for k, s, v, t in points],
        columns=_COPY_COLUMNS,
    )


async def finish(
    conn: Conn,
    run_id: int,
    added: Mapping[str, ParamValue],
    points: Sequence[Point],
) -> tuple[int, int] | None:
    """Lock the run row, if it is still RUNNING: add ``added`` to its param read
    copy, bump its revision, and bring the latest point of the keys of ``points``
    up to date. Returns the run's param count and its revision before, or None when
    it has ended."""
    row = (
        await conn.execute(
            runs.update()
            .where(runs.c.id == run_id, runs.c.state == RunState.RUNNING.value)
            .values(
                param_list=runs.c.param_list.op("||")(bindparam("added", type_=JSONB)),
                revision=runs.c.revision + 1,
                update_time=func.now(),
            )
            .returning(func.jsonb_array_length(runs.c.param_list), runs.c.revision),
            {"added": param_copy(added)},
        )
    ).first()
    if row is None:
        return None
    if points:
        keys = sorted({p[0] for p in points})
        await conn.execute(_LATEST, {"run_id": run_id, "keys": keys})
    return int(row[0]), int(row[1]) - 1


# A few points in one statement


@functools.cache
def _append_statement(end: bool) -> Statement:
    """LogRunData (``end`` False) or EndRun (``end``) of a RUNNING run with at most
    ``MAX_STATEMENT_POINTS`` points and no params, in one statement: the run row
    is updated under its lock (state still RUNNING; revision bumped; for an end,
    the state and end time set), the points inserted from arrays, each key's latest
    point upserted, and the request_id recorded with the response.

    No row, and nothing written, when the run is missing or not RUNNING, and for an
    end also when the run changed between this statement's snapshot and its lock:
    the record it returns is read from that snapshot (latest points merged with the
    ones it wrote), so the two must agree. The caller then takes the transaction
    path, which tells which and holds the exact errors.

    Locks come in the order of the transaction path (run_metrics' docstring): the
    run row, then latest-point rows by key."""
    this_run = (runs.c.project_id == PROJECT_ID, runs.c.name == bindparam("run", type_=Text))
    where = [*this_run, runs.c.state == RunState.RUNNING.value]
    changes: dict[str, Any] = {"revision": runs.c.revision + 1, "update_time": func.now()}
    if end:
        # The revision this statement's snapshot sees (computed once; the row's
        # latest version is checked against it after the lock).
        seen = runs.alias("seen")
        where.append(
            runs.c.revision
            == select(seen.c.revision)
            .where(seen.c.project_id == PROJECT_ID, seen.c.name == bindparam("run", type_=Text))
            .scalar_subquery()
        )
        changes.update(state=bindparam("state", type_=Text), end_time=func.now())
    u = (
        runs.update()
        .where(*where)
        .values(changes)
        .returning(*(runs.c if end else (runs.c.id,)))
        .cte("u")
    )
    when = DateTime(timezone=True)
    x = (
        func.unnest(
            bindparam("point_keys", type_=ARRAY(Text)),
            bindparam("point_steps", type_=ARRAY(BigInteger)),
            bindparam("point_values", type_=ARRAY(Double)),
            bindparam("point_times", type_=ARRAY(when)),
        )
        .table_valued(
            column("key", Text),
            column("step", BigInteger),
            column("value", Double),
            column("time", when),
            with_ordinality="ord",
        )
        .render_derived(name="x")
    )
    rm = run_metrics
    points = (
        insert(rm)
        .from_select(
            list(_COPY_COLUMNS),
            select(u.c.id, x.c.key, x.c.step, x.c.value, x.c.time)
            .select_from(u.join(x, true()))
            .order_by(x.c.ord),  # ids in the order logged
        )
        .returning(rm.c.run_id, rm.c.key, rm.c.value, rm.c.step, rm.c.time, rm.c.id)
        .cte("points")
    )
    lm = run_latest_metrics
    last = (
        select(*points.c)
        .ext(distinct_on(points.c.key))
        .order_by(points.c.key, points.c.step.desc(), points.c.id.desc())
    )
    upsert = pg_insert(lm).from_select(
        ["run_id", "key", "value", "step", "time", "metric_id"], last
    )
    latest = (
        upsert.on_conflict_do_update(
            index_elements=[lm.c.run_id, lm.c.key],
            set_={c: upsert.excluded[c] for c in ("value", "step", "time", "metric_id")},
            where=tuple_(upsert.excluded.step, upsert.excluded.metric_id)
            > tuple_(lm.c.step, lm.c.metric_id),
        )
        .returning(lm.c.run_id, lm.c.key, lm.c.value, lm.c.step, lm.c.time)
        .cte("latest")
    )
    response: Select[Any]
    if end:
        # The run's latest points: the snapshot's, but where this statement wrote one.
        kept = select(lm.c.run_id, lm.c.key, lm.c.value, lm.c.step, lm.c.time).where(
            lm.c.run_id == u.c.id, lm.c.key.not_in(select(latest.c.key))
        )
        merged = union_all(kept, select(*latest.c)).subquery("merged")
        response = read(u, latest_of(merged, u.c.id))
    else:
        logged: Select[Any] = select(  # type: ignore[assignment]
            bindparam("metrics_logged", type_=BigInteger).label("metrics_logged"),
            literal(0, BigInteger).label("params_logged"),
        )
        response = logged.select_from(u)
    done = response.cte("done")
    return Statement(select(done).add_cte(points, latest, record_request(done)))


_ENDED_TIMES = json.dumps(["start_time", "end_time", "update_time"])


async def append(
    raw: RawConn,
    project: str,
    run: str,
    points: Sequence[Point],
    *,
    end: RunState | None,
    request: requests.Key | None,
) -> Any:
    """Append ``points`` (at most ``MAX_STATEMENT_POINTS``) to a RUNNING run in one
    statement, ending it if ``end`` is given (``_append_statement``). Returns the
    LogRunData counts or, for an end, the run's record; None when it wrote nothing."""
    columns: list[Any] = [list(c) for c in zip(*points, strict=True)] if points else [[]] * 4
    args: dict[str, Any] = {
        "project": project,
        "run": run,
        **dict(
            zip(("point_keys", "point_steps", "point_values", "point_times"), columns, strict=True)
        ),
        **request_values(request),
    }
    if end is None:
        args.update(metrics_logged=len(points), times="[]")
    else:
        args.update(state=end.value, times=_ENDED_TIMES)
    return await fetch_recorded(raw, _append_statement(end is not None), args)


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
