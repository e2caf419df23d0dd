"""Inference records in: a batch's ingest (the listing is inference_list.py).

Ingest, per batch, in one transaction:

1. the batch's references, resolved in three queries for the whole batch (the
   project; every distinct (model, version) pair, with whether the version exists
   and is not DELETED; the deployments named), after which each record is kept or
   rejected by itself. The project and model rows are locked FOR KEY SHARE: a
   model or project deleted meanwhile either waits for the batch (and then
   deletes its records) or is gone before it (and its records are rejected);
2. the kept rows COPYed (binary, asyncpg's ``copy_records_to_table`` on the
   transaction's own connection) into a session-local staging table
   (``inference_stage``, ON COMMIT DELETE ROWS);
3. one statement (``_INSERT``): the staged rows inserted into
   ``inference_records`` in (record_id, event_time) order with ON CONFLICT DO
   NOTHING, so a resent record (or one sent twice in a batch) is stored once, and
   the hourly and daily rollups of the rows actually inserted upserted in key
   order, their latency histograms merged with ``modelreg_hist_add``. It returns how many rows
   were inserted: the batch's accepted count; the other kept rows are duplicates.

Rows are inserted and rollups upserted in key order, so two writers racing on the
same keys wait for each other instead of deadlocking. Inputs and outputs are cast
to jsonb in that statement: PostgreSQL checks their JSON for nothing extra. When
one is not valid JSON the statement fails, the transaction is rolled back and
the batch goes again with each document checked in Python first (``_json_ok``),
the bad records rejected alone. A row of a day without a partition (one dropped
by retention since this process made it) makes the batch go again after the
partition is made."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg
from sqlalchemy import select, text

from modelreg_server.domain import errors
from modelreg_server.domain import inference as inf
from modelreg_server.domain.inference import Reason, RecordError, RecordIn
from modelreg_server.domain.names import project_name
from modelreg_server.storage import inference_partitions as parts
from modelreg_server.storage.store import Conn, Store
from modelreg_server.storage.tables import deployments, projects

_STAGE = """
CREATE TEMP TABLE IF NOT EXISTS inference_stage (
    record_id uuid NOT NULL,
    event_us bigint NOT NULL,
    model_id bigint NOT NULL,
    version bigint NOT NULL,
    deployment_id bigint,
    request_id text NOT NULL,
    inputs bytea,
    outputs bytea,
    predicted_value double precision,
    predicted_label text,
    latency_ms double precision,
    attributes text
) ON COMMIT DELETE ROWS
"""
_STAGE_COLUMNS = (
    "record_id", "event_us", "model_id", "version", "deployment_id", "request_id", "inputs",
    "outputs", "predicted_value", "predicted_label", "latency_ms", "attributes",
)  # fmt: skip

# The histogram bucket of a latency (domain/inference.py): NULL without one.
BUCKET_SQL = (
    "CASE WHEN {x} = 0 THEN '" + inf.ZERO_BUCKET + "' "
    "ELSE ceil(ln({x}) / " + repr(inf.LOG_GAMMA) + ")::bigint::text END"
)

_ROLLUP_UPSERT = """
{name} AS (
    INSERT INTO {table} AS u (
        model_id, {span}, version, deployment_id, count, latency_count, latency_sum,
        latency_hist
    )
    SELECT model_id, {span}, version, deployment_id, n, latency_count, latency_sum, latency_hist
    FROM (
        SELECT model_id, {span}, version, deployment_id, sum(n) AS n,
            sum(latency_count) AS latency_count, coalesce(sum(latency_sum), 0) AS latency_sum,
            coalesce(
                jsonb_object_agg(bucket, latency_count) FILTER (WHERE bucket IS NOT NULL),
                '{{}}'::jsonb
            ) AS latency_hist
        FROM (
            SELECT model_id, {span}, version, deployment_id, bucket, sum(n) AS n,
                sum(latency_count) AS latency_count, sum(latency_sum) AS latency_sum
            FROM per_bucket
            GROUP BY model_id, {span}, version, deployment_id, bucket
        ) AS b
        GROUP BY model_id, {span}, version, deployment_id
    ) AS rolled
    ORDER BY model_id, {span}, version, deployment_id
    ON CONFLICT (model_id, {span}, version, deployment_id) DO UPDATE SET
        count = u.count + excluded.count,
        latency_count = u.latency_count + excluded.latency_count,
        latency_sum = u.latency_sum + excluded.latency_sum,
        latency_hist = modelreg_hist_add(u.latency_hist, excluded.latency_hist)
    RETURNING 1
)"""

_INSERT = f"""
WITH ins AS (
    INSERT INTO inference_records AS r (
        record_id, event_time, project_id, model_id, version, deployment_id, request_id,
        inputs, outputs, predicted_value, predicted_label, latency_ms, attributes, writer_id
    )
    SELECT s.record_id, timestamptz 'epoch' + s.event_us * interval '1 microsecond', $1,
        s.model_id, s.version, s.deployment_id, s.request_id,
        convert_from(s.inputs, 'UTF8')::jsonb, convert_from(s.outputs, 'UTF8')::jsonb,
        s.predicted_value, s.predicted_label, s.latency_ms,
        coalesce(s.attributes::jsonb, '{{}}'::jsonb),
        $2
    FROM inference_stage AS s
    ORDER BY s.record_id, s.event_us
    ON CONFLICT DO NOTHING
    RETURNING r.model_id, r.version, coalesce(r.deployment_id, 0) AS deployment_id,
        date_trunc('hour', r.event_time, 'UTC') AS hour,
        date_trunc('day', r.event_time, 'UTC') AS day, r.latency_ms,
        {BUCKET_SQL.format(x="r.latency_ms")} AS bucket
), per_bucket AS (
    SELECT model_id, hour, day, version, deployment_id, bucket,
        count(*) AS n, count(latency_ms) AS latency_count, sum(latency_ms) AS latency_sum
    FROM ins
    GROUP BY model_id, hour, day, version, deployment_id, bucket
),{_ROLLUP_UPSERT.format(name="up", table="inference_rollups", span="hour")},{
    _ROLLUP_UPSERT.format(name="up_day", table="inference_daily_rollups", span="day")
}
SELECT (SELECT count(*) FROM ins) AS accepted, (SELECT count(*) FROM up) AS rollups,
    (SELECT count(*) FROM up_day) AS daily_rollups
"""

_PAIRS = text(
    """
    SELECT x.model, x.version, m.id AS model_id, v.version IS NOT NULL AS found
    FROM unnest(CAST(:models AS text[]), CAST(:versions AS bigint[])) AS x(model, version)
    LEFT JOIN LATERAL (
        SELECT id FROM models WHERE project_id = :pid AND name = x.model FOR KEY SHARE
    ) AS m ON true
    LEFT JOIN model_versions AS v
        ON v.model_id = m.id AND v.version = x.version AND v.state <> 'DELETED'
    """
)

# What a bad document makes PostgreSQL say: bad JSON, bad UTF-8, \u0000 in jsonb,
# nesting too deep.
_JSON_SQLSTATES = {"22P02", "22021", "22P05", "54001"}


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def _json_ok(doc: bytes | None) -> bool:
    """Whether jsonb takes ``doc`` (checked only after it refused a batch)."""
    if doc is None:
        return True
    if b"\x00" in doc:
        return False
    try:
        text_ = doc.decode("utf-8")
        if "\\u0000" in text_:
            return False
        json.loads(text_, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return False
    return True


def _sqlstate(exc: BaseException) -> str | None:
    state = getattr(exc, "sqlstate", None)
    return state if isinstance(state, str) else None


async def project_id(conn: Conn, project: str, *, key_share: bool = False) -> int:
    """The project's row id; ``key_share`` locks the row against deletion until the
    transaction ends (records are not written for a project being deleted)."""
    query = select(projects.c.id).where(projects.c.name == project)
    if key_share:
        query = query.with_for_update(key_share=True)
    pid = await conn.scalar(query)
    if pid is None:
        raise errors.NotFound("project", project_name(project))
    return int(pid)


async def _resolve(
    conn: Conn, pid: int, rows: Sequence[RecordIn]
) -> tuple[dict[tuple[str, int], tuple[int | None, bool]], dict[str, tuple[int, int]]]:
    """(model, version) -> (model id or None, version found); deployment -> (id, model id)."""
    pairs = sorted({(r[2], r[3]) for r in rows})
    found: dict[tuple[str, int], tuple[int | None, bool]] = {}
    if pairs:
        result = await conn.execute(
            _PAIRS,
            {"pid": pid, "models": [p[0] for p in pairs], "versions": [p[1] for p in pairs]},
        )
        for model, version, model_id, ok in result:
            found[(model, version)] = (model_id, bool(ok))
    names = sorted({r[4] for r in rows if r[4]})
    deps: dict[str, tuple[int, int]] = {}
    if names:
        d = deployments
        result = await conn.execute(
            select(d.c.name, d.c.id, d.c.model_id).where(d.c.project_id == pid, d.c.name.in_(names))
        )
        deps = {name: (did, mid) for name, did, mid in result}
    return found, deps


def _copy_rows(
    rows: Sequence[RecordIn],
    found: Mapping[tuple[str, int], tuple[int | None, bool]],
    deps: Mapping[str, tuple[int, int]],
    check_json: bool,
    sent_ids: Mapping[int, str],
    bad: list[RecordError],
) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    append = out.append
    for i, rid, model, version, dep, us, req, inp, outp, pv, pl, lat, attrs in rows:
        model_id, ok = found[(model, version)]
        problem: tuple[str, Reason, str] | None = None
        deployment_id = None
        if model_id is None:
            problem = ("model", Reason.MODEL_NOT_FOUND, f"no model {model!r} in the project")
        elif not ok:
            problem = ("version", Reason.VERSION_NOT_FOUND, f"no version {version} of {model!r}")
        elif dep:
            d = deps.get(dep)
            if d is None or d[1] != model_id:
                problem = (
                    "deployment",
                    Reason.DEPLOYMENT_NOT_FOUND,
                    f"no deployment {dep!r} of {model!r} in the project",
                )
            else:
                deployment_id = d[0]
        if problem is None and check_json:
            if not _json_ok(inp):
                problem = ("inputs", Reason.INVALID_JSON, "not a JSON document")
            elif not _json_ok(outp):
                problem = ("outputs", Reason.INVALID_JSON, "not a JSON document")
        if problem is not None:
            field, reason, message = problem
            bad.append(
                RecordError(i, sent_ids.get(i, rid), f"records[{i}].{field}", reason, message)
            )
            continue
        append((rid, us, model_id, version, deployment_id, req, inp, outp, pv, pl, lat, attrs))
    return out


async def _write_once(
    store: Store,
    project: str,
    writer_id: str,
    rows: Sequence[RecordIn],
    check_json: bool,
    sent_ids: Mapping[int, str],
) -> inf.BatchResult:
    bad: list[RecordError] = []
    async with store.write() as conn:
        pid = await project_id(conn, project, key_share=True)  # begins the transaction
        found, deps = await _resolve(conn, pid, rows)
        copy = _copy_rows(rows, found, deps, check_json, sent_ids, bad)
        accepted = 0
        if copy:
            raw: Any = (await conn.get_raw_connection()).driver_connection
            await raw.execute(_STAGE)
            await raw.copy_records_to_table("inference_stage", records=copy, columns=_STAGE_COLUMNS)
            accepted = int((await raw.fetchrow(_INSERT, pid, writer_id))["accepted"])
    return inf.BatchResult(accepted=accepted, duplicates=len(copy) - accepted, errors=bad)


async def write_batch(
    store: Store,
    partitions: parts.Partitions,
    project: str,
    writer_id: str,
    rows: Sequence[RecordIn],
    sent_ids: Mapping[int, str],
) -> inf.BatchResult:
    """Store a batch's checked rows (``RecordIn``); ``sent_ids`` maps a row's index
    to the record id as sent when it was not in canonical form. Returns the counts
    and the rows rejected here (references, JSON)."""
    await partitions.ensure({parts.day_of(r[5]) for r in rows})
    check_json = False
    for attempt in range(4):
        try:
            return await _write_once(store, project, writer_id, rows, check_json, sent_ids)
        except asyncpg.PostgresError as exc:
            state = _sqlstate(exc)
            if state in _JSON_SQLSTATES and not check_json:
                check_json = True
            elif parts.is_missing_partition(exc) and attempt < 3:
                partitions.forget()
                await partitions.ensure({parts.day_of(r[5]) for r in rows})
            elif state in _JSON_SQLSTATES:
                raise errors.InvalidArgument(
                    "records", f"a document is not valid JSON: {exc}"
                ) from exc
            else:
                raise
    raise errors.Unavailable("inference partitions keep disappearing; retry later")


async def deployment_id(conn: Conn, project: str, pid: int, mid: int, name: str) -> tuple[int, Any]:
    """A deployment of the model: (id, traffic); NotFound if the project has none by
    that name for this model."""
    d = deployments
    row = (
        await conn.execute(
            select(d.c.id, d.c.model_id, d.c.traffic).where(d.c.project_id == pid, d.c.name == name)
        )
    ).first()
    if row is None or row.model_id != mid:
        raise errors.NotFound("deployment", f"{project_name(project)}/deployments/{name}")
    return int(row.id), row.traffic
