"""Production metrics (GetProductionMetrics).

Without an attribute to group by they come from the rollups alone, kept up to
date by ingest and feedback, never from the records: bucketed by hour, from the
hourly rows of the window; by day or for the whole window, from the daily rows
(``inference_daily_rollups``) of the days the window covers and hourly rows only
for the part of a day cut by the window's edge where that day has records
outside it. A week of a model is a few dozen rows however many records it has,
read in one statement and merged here (sums added, latency histograms merged
bucket by bucket): the group count is small, and the per-bucket grouping in SQL
cost more than sending the rows.

Grouped by an attribute they come from the raw records of the window instead
(attributes are not rolled up), in one statement: the same sums, and the same
histogram buckets computed in SQL, so the two paths agree on the same records.
That costs a scan of the window's records."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text

from modelreg_server.domain import errors
from modelreg_server.domain import inference as inf
from modelreg_server.storage import models as model_q
from modelreg_server.storage.inference import BUCKET_SQL, deployment_id, project_id
from modelreg_server.storage.store import Conn

DEFAULT_WINDOW = timedelta(days=7)
_HOUR = timedelta(hours=1)

_SUMS = """
    sum(count) AS count, sum(feedback_count) AS feedback_count,
    sum(labeled_count) AS labeled_count, sum(correct_count) AS correct_count,
    sum(valued_count) AS valued_count, sum(abs_err_sum) AS abs_err_sum,
    sum(sq_err_sum) AS sq_err_sum, sum(latency_count) AS latency_count,
    sum(latency_sum) AS latency_sum
"""

_HOURLY = """
    SELECT {bucket} AS b, {version} AS v, '' AS a, {columns}
    FROM inference_rollups
    WHERE model_id = :mid AND hour >= :{lo} AND hour < :{hi} {where}"""
_DAILY = """
    SELECT {bucket} AS b, {version} AS v, '' AS a, {columns}
    FROM inference_daily_rollups
    WHERE model_id = :mid AND day >= :days_lo AND day < :days_hi {where}"""
_COLUMNS = (
    "count, feedback_count, labeled_count, correct_count, valued_count, abs_err_sum, "
    "sq_err_sum, latency_count, latency_sum, latency_hist"
)
# Whether hourly rows of the model lie in the two ranges (the parts of the first
# and last day of the window outside it): if not, those days' daily rows hold
# exactly the window's part of them.
_OUTSIDE = text(
    "SELECT EXISTS (SELECT 1 FROM inference_rollups WHERE model_id = :mid "
    "AND hour >= :a AND hour < :b), EXISTS (SELECT 1 FROM inference_rollups "
    "WHERE model_id = :mid AND hour >= :c AND hour < :d)"
)

# The rollup rows of the window, each with its group: a week is a few dozen rows,
# merged in Python (grouping their histograms' entries in SQL costs more than the
# rows are to send).
_ROLLUPS = "SELECT * FROM ({sources}) AS f"

# A merged histogram as two arrays, by bucket: the bucket numbers (the 0 ms bucket
# first, as ZERO_BUCKET_NUMBER) and their counts. Buckets are grouped as numbers
# (text keys would sort by collation, several times slower).
_BUCKET_NUMBER = (
    f"CASE WHEN key = '{inf.ZERO_BUCKET}' THEN {inf.ZERO_BUCKET_NUMBER} ELSE key::int END"
)
_HIST_ARRAYS = (
    "array_agg(k ORDER BY k) AS hist_keys, array_agg(n::bigint ORDER BY k) AS hist_counts"
)

_RECORDS = """
WITH f AS MATERIALIZED (
    SELECT {bucket} AS b, {version} AS v, coalesce(attributes ->> :attr, '') AS a,
        CASE WHEN feedback_time IS NULL THEN 0 ELSE 1 END AS feedback_count,
        CASE WHEN predicted_label IS NOT NULL AND true_label IS NOT NULL THEN 1 ELSE 0 END
            AS labeled_count,
        CASE WHEN predicted_label = true_label THEN 1 ELSE 0 END AS correct_count,
        CASE WHEN predicted_value IS NOT NULL AND true_value IS NOT NULL THEN 1 ELSE 0 END
            AS valued_count,
        coalesce(abs(predicted_value - true_value), 0) AS abs_err_sum,
        coalesce((predicted_value - true_value) ^ 2, 0) AS sq_err_sum,
        CASE WHEN latency_ms IS NULL THEN 0 ELSE 1 END AS latency_count,
        coalesce(latency_ms, 0) AS latency_sum,
        {latency_bucket} AS key,
        1 AS count
    FROM inference_records
    WHERE model_id = :mid AND event_time >= :start AND event_time < :end {where}
), s AS (
    SELECT b, v, a, {sums} FROM f GROUP BY b, v, a
), h AS (
    SELECT b, v, a, {hist_arrays}
    FROM (
        SELECT b, v, a, {bucket_number} AS k, count(*) AS n
        FROM f WHERE key IS NOT NULL GROUP BY 1, 2, 3, 4
    ) AS x
    GROUP BY b, v, a
)
SELECT s.*, h.hist_keys, h.hist_counts FROM s LEFT JOIN h USING (b, v, a) ORDER BY b, v, a
"""


def floor_hour(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def ceil_hour(t: datetime) -> datetime:
    floored = floor_hour(t)
    return floored if floored == t else floored + _HOUR


def window(q: inf.MetricsQuery, now: datetime) -> tuple[datetime, datetime]:
    """The window in whole hours: start rounded down, end rounded up."""
    end = ceil_hour(q.end_time or now)
    start = floor_hour(q.start_time) if q.start_time is not None else end - DEFAULT_WINDOW
    if start >= end:
        raise errors.InvalidArgument("start_time", "must be before end_time")
    return start, end


_DAY = timedelta(days=1)


def floor_day(t: datetime) -> datetime:
    return t.replace(hour=0, minute=0, second=0, microsecond=0)


async def _day_span(
    conn: Conn, mid: int, start: datetime, end: datetime
) -> tuple[datetime, datetime]:
    """The days [lo, hi) whose daily rollups stand for their part of the window:
    the whole days inside it, and its first and last day when the model has no
    hourly rows outside the window on them. Empty when lo >= hi."""
    first = floor_day(start)
    last = floor_day(end - timedelta(microseconds=1))
    before, after = (
        await conn.execute(
            _OUTSIDE, {"mid": mid, "a": first, "b": start, "c": end, "d": last + _DAY}
        )
    ).one()
    lo = first if not before else first + _DAY
    hi = last + _DAY if not after else last
    return lo, hi


def _traffic(traffic: Any) -> dict[int, int]:
    split: dict[int, int] = {}
    for entry in traffic or []:
        if isinstance(entry, list | tuple) and len(entry) == 2:
            split[int(entry[0])] = int(entry[1])
    return split


def _day_sources(
    span: tuple[datetime, datetime],
    values: dict[str, Any],
    bucket: str,
    version: str,
    where: str,
) -> str:
    """The rollup rows of a window bucketed by day or not at all: daily rows for the
    days of ``span``, hourly rows for the rest of the window."""
    lo, hi = span
    start, end = values["start"], values["end"]
    day_bucket = bucket.replace("date_trunc('day', hour, 'UTC')", "day")
    if lo >= hi:
        return _HOURLY.format(
            bucket=bucket, version=version, columns=_COLUMNS, lo="start", hi="end", where=where
        )
    values.update(
        days_lo=lo,
        days_hi=hi,
        head_end=max(start, min(lo, end)),
        tail_start=min(end, max(hi, start)),
    )
    parts = [
        _DAILY.format(bucket=day_bucket, version=version, columns=_COLUMNS, where=where),
        _HOURLY.format(
            bucket=bucket, version=version, columns=_COLUMNS, lo="start", hi="head_end", where=where
        ),
        _HOURLY.format(
            bucket=bucket, version=version, columns=_COLUMNS, lo="tail_start", hi="end", where=where
        ),
    ]
    return " UNION ALL ".join(parts)


async def query(conn: Conn, q: inf.MetricsQuery, now: datetime) -> inf.Metrics:
    mid = await model_q.id_of(conn, q.project, q.model)
    start, end = window(q, now)
    values: dict[str, Any] = {"mid": mid, "start": start, "end": end}
    where = ""
    if q.version:
        where += " AND version = :version"
        values["version"] = q.version
    traffic: dict[int, int] | None = None
    if q.deployment:
        pid = await project_id(conn, q.project)
        did, split = await deployment_id(conn, q.project, pid, mid, q.deployment)
        if q.group_by_version:
            traffic = _traffic(split)
        values["did"] = did
        where += " AND deployment_id = :did"
    version = "version" if q.group_by_version else "0::bigint"
    time_column = "event_time" if q.group_by_attribute else "hour"
    bucket = {
        inf.Bucket.NONE: "CAST(:start AS timestamptz)",
        inf.Bucket.HOUR: f"date_trunc('hour', {time_column}, 'UTC')",
        inf.Bucket.DAY: f"date_trunc('day', {time_column}, 'UTC')",
    }[q.bucket]
    if q.group_by_attribute:
        values["attr"] = q.group_by_attribute
        sql = _RECORDS.format(
            bucket=bucket,
            version=version,
            where=where,
            sums=_SUMS,
            latency_bucket=BUCKET_SQL.format(x="latency_ms"),
            hist_arrays=_HIST_ARRAYS,
            bucket_number=_BUCKET_NUMBER,
        )
    else:
        if q.bucket is inf.Bucket.HOUR:
            sources = _HOURLY.format(
                bucket=bucket, version=version, columns=_COLUMNS, lo="start", hi="end", where=where
            )
        else:
            span = await _day_span(conn, mid, start, end)
            sources = _day_sources(span, values, bucket, version, where)
        rollups = (await conn.execute(text(_ROLLUPS.format(sources=sources)), values)).all()
        merged = inf.merge_rollups(rollups)
        return inf.Metrics(
            rows=[
                inf.metrics_row(b, v, a, sums, (traffic or {}).get(v, 0))
                for (b, v, a), sums in merged
                if sums.count
            ],
            start_time=start,
            end_time=end,
        )
    rows = (await conn.execute(text(sql), values)).mappings().all()
    out = [
        inf.metrics_row(
            row["b"],
            int(row["v"]),
            row["a"],
            inf.sums(row),
            (traffic or {}).get(int(row["v"]), 0),
        )
        for row in rows
        if row["count"]
    ]
    return inf.Metrics(rows=out, start_time=start, end_time=end)
