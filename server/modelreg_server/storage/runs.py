"""Queries on runs: the read statement, create, get, a page of runs, and the
row-level changes (description, labels, end).

Metric points and params logged later live in run_metrics.py, the filter fields
in run_filters.py. Reads return ``Run`` records; get and list are one prepared
statement each on the raw asyncpg connection, the latest metrics and outputs
being correlated subqueries that run for the returned rows only. A page of
runs is read through a cursor in chunks, handed to the caller as they come.

CreateRun is one statement on the raw connection too (``create_fast``); the
transaction path (``create``, with storage/ids.py) is there for what it leaves:
a missing project or input to tell apart, a made id already taken."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import asyncpg
from sqlalchemy import (
    CTE,
    BigInteger,
    Double,
    FromClause,
    Select,
    Text,
    bindparam,
    column,
    delete,
    func,
    insert,
    literal,
    literal_column,
    select,
    true,
    union_all,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import JSON, JSONB, aggregate_order_by
from sqlalchemy.dialects.postgresql import insert as pg_insert

from modelreg_server.domain import errors
from modelreg_server.domain.names import run_name
from modelreg_server.domain.runs import NewRun, Run, RunState
from modelreg_server.domain.types import ListQuery, ParamValue, ResolvedRef, VersionState
from modelreg_server.storage import filters, ids, pagination, requests
from modelreg_server.storage import projects as project_q
from modelreg_server.storage.register import encode_param
from modelreg_server.storage.run_filters import FIELDS
from modelreg_server.storage.sql import Statement, StatementCache
from modelreg_server.storage.store import Conn, RawConn
from modelreg_server.storage.tables import (
    dataset_versions,
    datasets,
    id_counters,
    model_versions,
    models,
    projects,
    request_log,
    run_inputs,
    run_labels,
    run_latest_metrics,
    run_params,
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


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def param_rows(params: Mapping[str, ParamValue]) -> list[dict[str, Any]]:
    rows = []
    for key, value in params.items():
        kind, num, text = encode_param(value)
        rows.append({"key": key, "kind": kind, "num_value": num, "text_value": text})
    return rows


def param_copy(params: Mapping[str, ParamValue]) -> list[list[str]]:
    """The elements of a run's param_list read copy: [key, kind, exact text]."""
    return [
        [k, kind, text] for k, (kind, _, text) in ((k, encode_param(v)) for k, v in params.items())
    ]


def _made_name(number: Any) -> Any:
    """``run_001``... in SQL, as ``f"run_{n:03d}"`` (``run_1000`` after ``run_999``)."""
    digits = sql_cast(number, Text)
    return literal("run_", Text) + func.lpad(digits, func.greatest(3, func.length(digits)), "0")


def _create_statement(fast: bool) -> Select[Any]:
    """Insert the run (nothing when its id is taken) with its params, labels and
    inputs, and return its record: one statement.

    ``fast``: the whole CreateRun in one statement. The project is looked up, the
    inputs resolved (``dataset_refs.resolve`` in SQL), the id is the one given or
    the counter's next (``ids.next_number`` in SQL), and the request_id is recorded
    with the record. No row when the project is missing, an input is, or the id is
    taken (the counter keeps its step: gaps are fine); the caller then takes the
    transaction path, which says which, or skips to the next free id.
    """
    names = (
        "experiment", "description", "param_list", "input_list", "labels",
        "code_repo", "code_commit", "code_dirty", "created_by",
    )  # fmt: skip
    values: dict[str, Any] = {n: bindparam(n, type_=runs.c[n].type) for n in names}
    if fast:
        refs = (
            func.jsonb_to_recordset(bindparam("refs", type_=JSONB))
            .table_valued(
                column("position", BigInteger),
                column("project", Text),
                column("dataset", Text),
                column("version", Text),
                column("role", Text),
            )
            .render_derived(name="ref", with_types=True)
        )
        rp, ds, dv = projects.alias("rp"), datasets.alias("ds"), dataset_versions.alias("dv")
        resolved = (
            select(refs, dv.c.id.label("dataset_version_id"), dv.c.batch_id)
            .join(rp, rp.c.name == refs.c.project)
            .join(ds, (ds.c.project_id == rp.c.id) & (ds.c.name == refs.c.dataset))
            .join(dv, (dv.c.dataset_id == ds.c.id) & (dv.c.version == refs.c.version))
            .cte("resolved")
        )
        every_input = select(func.count()).select_from(resolved).scalar_subquery() == bindparam(
            "ref_count", type_=BigInteger
        )
        p = (
            select(projects.c.id)
            .where(projects.c.name == bindparam("project", type_=Text), every_input)
            .cte("p")
        )
        name = literal("projects/", Text) + resolved.c.project + "/datasets/" + resolved.c.dataset
        values["input_list"] = (
            select(
                func.coalesce(
                    func.jsonb_agg(
                        aggregate_order_by(
                            func.jsonb_build_array(
                                resolved.c.dataset,
                                resolved.c.version,
                                resolved.c.batch_id,
                                resolved.c.role,
                                name + "/versions/" + resolved.c.version,
                            ),
                            resolved.c.position,
                        )
                    ),
                    literal_column("'[]'::jsonb", JSONB),
                    type_=JSONB,
                )
            )
            .select_from(resolved)
            .scalar_subquery()
        )
        given = bindparam("given", type_=Text)
        ic = id_counters
        counter = (
            pg_insert(ic)
            .from_select(
                ["kind", "parent_id", "value"],
                select(literal(ids.RUN, Text), p.c.id, literal(1, BigInteger)).where(given == ""),
            )
            .on_conflict_do_update(
                index_elements=[ic.c.kind, ic.c.parent_id], set_={"value": ic.c.value + 1}
            )
            .returning(ic.c.parent_id, ic.c.value)
            .cte("c")
        )
        n = union_all(
            select(p.c.id.label("project_id"), given.label("name")).where(given != ""),
            select(counter.c.parent_id, _made_name(counter.c.value)),
        ).cte("n")
        columns = {"project_id": n.c.project_id, "name": n.c.name, **values}
        new_row = pg_insert(runs).from_select(list(columns), select(*columns.values()))
    else:
        columns = {n: bindparam(n, type_=runs.c[n].type) for n in ("project_id", "name")}
        new_row = pg_insert(runs).values({**columns, **values})
    r = (
        new_row.on_conflict_do_nothing(index_elements=[runs.c.project_id, runs.c.name])
        .returning(*runs.c)
        .cte("r")
    )
    x = (
        func.jsonb_to_recordset(bindparam("params", type_=JSONB))
        .table_valued(
            column("key", Text),
            column("kind", Text),
            column("num_value", Double),
            column("text_value", Text),
        )
        .render_derived(name="x", with_types=True)
    )
    params = run_params.insert().from_select(
        ["run_id", "key", "kind", "num_value", "text_value"],
        select(r.c.id, x.c.key, x.c.kind, x.c.num_value, x.c.text_value).select_from(
            r.join(x, true())
        ),
    )
    lb = (
        func.jsonb_each_text(bindparam("labels", type_=JSONB))
        .table_valued(column("key", Text), column("value", Text))
        .render_derived(name="lb")
    )
    labels = run_labels.insert().from_select(
        ["run_id", "key", "value"],
        select(r.c.id, lb.c.key, lb.c.value).select_from(r.join(lb, true())),
    )
    i: FromClause = (
        func.jsonb_to_recordset(bindparam("inputs", type_=JSONB))
        .table_valued(
            column("position", BigInteger),
            column("dataset_version_id", BigInteger),
            column("role", Text),
        )
        .render_derived(name="i", with_types=True)
    )
    if fast:
        i = resolved
    inputs = run_inputs.insert().from_select(
        ["run_id", "position", "dataset_version_id", "role"],
        select(r.c.id, i.c.position, i.c.dataset_version_id, i.c.role).select_from(
            r.join(i, true())
        ),
    )
    writes = [params.cte("param_rows"), labels.cte("label_rows"), inputs.cte("input_rows")]
    if not fast:
        return read(r).add_cte(*writes)
    created = read(r).cte("created")
    return select(created).add_cte(*writes, record_request(created))


def record_request(record: CTE) -> CTE:
    """Record the call's request_id with its response, ``record``'s one row (none: no
    call recorded), in the shape storage/requests.py stores, as register.py does."""
    rid = bindparam("request_id", type_=Text)
    return (
        insert(request_log)
        .from_select(
            ["method", "scope", "request_id", "payload_hash", "response"],
            select(
                bindparam("method", type_=Text),
                bindparam("scope", type_=Text),
                rid,
                bindparam("payload_hash", type_=Text),
                func.jsonb_build_object(
                    literal_column("'fields'"),
                    func.to_jsonb(record.table_valued()),
                    literal_column("'times'"),
                    bindparam("times", type_=JSONB),
                ),
            )
            .select_from(record)
            .where(rid.is_not(None)),
        )
        .cte("request")
    )


def request_values(key: requests.Key | None) -> dict[str, Any]:
    """The arguments of ``record_request``."""
    if key is None:
        return {"method": None, "scope": None, "request_id": None, "payload_hash": None}
    return {
        "method": key.method,
        "scope": key.scope,
        "request_id": key.request_id,
        "payload_hash": key.payload_hash,
    }


async def fetch_recorded(raw: RawConn, statement: Statement, values: Mapping[str, Any]) -> Any:
    """The row of a statement that records its request_id, or None when it wrote
    nothing: no row, or the request_id is taken (the whole statement failed)."""
    try:
        return await raw.fetchrow(statement.sql, *statement.args(values))
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == requests.KEY_CONSTRAINT:
            return None
        raise


_CREATE = _create_statement(fast=False)
_CREATE_FAST = Statement(_create_statement(fast=True))
# The times of a new run's record (end_time is unset).
_CREATED_TIMES = _json(["start_time", "update_time"])


async def create(
    conn: Conn,
    project: str,
    project_id: int,
    given: str,
    spec: NewRun,
    inputs: Sequence[ResolvedRef],
    *,
    created_by: str,
) -> Run:
    """Insert a run named ``given``, or ``run_001``... when empty; its record."""
    pid = project_id
    values = {
        "project": project,
        "project_id": pid,
        "experiment": spec.experiment,
        "description": spec.description,
        "param_list": param_copy(spec.params),
        "input_list": [ref.read_copy() for ref in inputs],
        "labels": dict(spec.labels),
        "code_repo": spec.code_version.repo,
        "code_commit": spec.code_version.commit,
        "code_dirty": spec.code_version.dirty,
        "created_by": created_by,
        "params": param_rows(spec.params),
        "inputs": [
            {"position": n, "dataset_version_id": ref.id, "role": ref.role.value}
            for n, ref in enumerate(inputs)
        ],
    }
    made: list[Run] = []

    async def insert_row(name: str) -> int | None:
        row = (await conn.execute(_CREATE, {**values, "name": name})).first()
        if row is None:
            return None
        made.append(cast(Run, row._mapping))
        return int(row.id)

    await ids.insert_named(
        conn,
        kind=ids.RUN,
        parent_id=pid,
        given=given,
        spell=lambda n: f"run_{n:03d}",
        insert_row=insert_row,
        taken=lambda name: errors.AlreadyExists("run", run_name(project, name)),
    )
    return made[-1]


async def create_fast(
    raw: RawConn,
    project: str,
    given: str,
    spec: NewRun,
    *,
    created_by: str,
    request: requests.Key | None,
) -> Run | None:
    """CreateRun in one statement (``_create_statement(fast=True)``): the new run's
    record, or None when it wrote nothing (project or an input missing, id taken,
    request_id taken)."""
    values = {
        "project": project,
        "given": given,
        "experiment": spec.experiment,
        "description": spec.description,
        "param_list": _json(param_copy(spec.params)),
        "labels": _json(dict(spec.labels)),
        "code_repo": spec.code_version.repo,
        "code_commit": spec.code_version.commit,
        "code_dirty": spec.code_version.dirty,
        "created_by": created_by,
        "params": _json(param_rows(spec.params)),
        "refs": _json(
            [
                {
                    "position": n,
                    "project": ref.project or project,
                    "dataset": ref.dataset,
                    "version": ref.version,
                    "role": ref.role.value,
                }
                for n, ref in enumerate(spec.inputs)
            ]
        ),
        "ref_count": len(spec.inputs),
        "times": _CREATED_TIMES,
        **request_values(request),
    }
    return cast(Run | None, await fetch_recorded(raw, _CREATE_FAST, values))


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
