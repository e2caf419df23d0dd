"""Ground truth for inference records (WriteFeedback), in the caller's transaction.

1. The records the items name, by record id or by request id, within the project
   (one query for all items); per record the last item naming it (arrival order)
   wins: it replaces any feedback the record had, and keeps its time.
2. The winning records are locked in key order, with their current feedback, so
   two calls on the same records queue instead of deadlocking (ingest takes its
   locks in the same order: records, then rollups).
3. The records are updated, and the hourly and daily rollups moved by the
   delta: the old feedback's contribution subtracted, the new one added (hourly
   rows then daily rows, each in key order, as ingest locks them)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from modelreg_server.domain import inference as inf
from modelreg_server.domain.inference import Reason, RecordError
from modelreg_server.storage.inference import project_id
from modelreg_server.storage.store import Conn

_MATCH = text(
    """
    WITH i AS (
        SELECT * FROM unnest(
            CAST(:ords AS integer[]), CAST(:record_ids AS uuid[]), CAST(:request_ids AS text[])
        ) AS i(ord, record_id, request_id)
    )
    SELECT i.ord, r.record_id, r.event_time
    FROM i JOIN inference_records AS r ON r.record_id = i.record_id AND r.project_id = :pid
    WHERE i.record_id IS NOT NULL
    UNION ALL
    SELECT i.ord, r.record_id, r.event_time
    FROM i JOIN inference_records AS r
        ON r.project_id = :pid AND r.request_id = i.request_id AND r.request_id <> ''
    WHERE i.request_id IS NOT NULL
    """
)

_LOCK = text(
    """
    SELECT r.record_id, r.event_time, r.model_id, r.version,
        coalesce(r.deployment_id, 0) AS deployment_id,
        date_trunc('hour', r.event_time, 'UTC') AS hour,
        r.predicted_value, r.predicted_label, r.true_value, r.true_label, r.feedback_time
    FROM inference_records AS r
    JOIN unnest(CAST(:record_ids AS uuid[]), CAST(:event_times AS timestamptz[]))
        AS k(record_id, event_time)
        ON r.record_id = k.record_id AND r.event_time = k.event_time
    ORDER BY r.record_id, r.event_time
    FOR UPDATE OF r
    """
)

_UPDATE = text(
    """
    UPDATE inference_records AS r
    SET true_value = k.true_value, true_label = k.true_label, feedback_time = k.feedback_time
    FROM unnest(
        CAST(:record_ids AS uuid[]), CAST(:event_times AS timestamptz[]),
        CAST(:true_values AS double precision[]), CAST(:true_labels AS text[]),
        CAST(:feedback_times AS timestamptz[])
    ) AS k(record_id, event_time, true_value, true_label, feedback_time)
    WHERE r.record_id = k.record_id AND r.event_time = k.event_time
    """
)

_ROLLUPS = """
    INSERT INTO {table} AS u (
        model_id, {span}, version, deployment_id, feedback_count, labeled_count, correct_count,
        valued_count, abs_err_sum, sq_err_sum
    )
    SELECT * FROM unnest(
        CAST(:model_ids AS bigint[]), CAST(:hours AS timestamptz[]), CAST(:versions AS bigint[]),
        CAST(:deployment_ids AS bigint[]), CAST(:feedback_counts AS bigint[]),
        CAST(:labeled_counts AS bigint[]), CAST(:correct_counts AS bigint[]),
        CAST(:valued_counts AS bigint[]), CAST(:abs_err_sums AS double precision[]),
        CAST(:sq_err_sums AS double precision[])
    )
    ON CONFLICT (model_id, {span}, version, deployment_id) DO UPDATE SET
        feedback_count = u.feedback_count + excluded.feedback_count,
        labeled_count = u.labeled_count + excluded.labeled_count,
        correct_count = u.correct_count + excluded.correct_count,
        valued_count = u.valued_count + excluded.valued_count,
        abs_err_sum = u.abs_err_sum + excluded.abs_err_sum,
        sq_err_sum = u.sq_err_sum + excluded.sq_err_sum
"""
_HOURLY = text(_ROLLUPS.format(table="inference_rollups", span="hour"))
_DAILY = text(_ROLLUPS.format(table="inference_daily_rollups", span="day"))


@dataclass
class _Delta:
    feedback: int = 0
    labeled: int = 0
    correct: int = 0
    valued: int = 0
    abs_err: float = 0.0
    sq_err: float = 0.0

    def merge(self, other: _Delta) -> None:
        self.feedback += other.feedback
        self.labeled += other.labeled
        self.correct += other.correct
        self.valued += other.valued
        self.abs_err += other.abs_err
        self.sq_err += other.sq_err

    def add(
        self,
        sign: int,
        predicted_value: float | None,
        predicted_label: str | None,
        true_value: float | None,
        true_label: str | None,
    ) -> None:
        """Add (sign 1) or take away (sign -1) one record's feedback contribution."""
        self.feedback += sign
        if predicted_label is not None and true_label is not None:
            self.labeled += sign
            self.correct += sign * (predicted_label == true_label)
        if predicted_value is not None and true_value is not None:
            err = predicted_value - true_value
            self.valued += sign
            self.abs_err += sign * abs(err)
            self.sq_err += sign * err * err


async def write(
    conn: Conn, project: str, items: Sequence[inf.FeedbackIn]
) -> tuple[int, list[RecordError]]:
    """Apply checked feedback items. Returns the records matched and an error per
    item that matched none."""
    pid = await project_id(conn, project)
    if not items:
        return 0, []
    by_ord = {f.index: f for f in items}
    found = await conn.execute(
        _MATCH,
        {
            "pid": pid,
            "ords": [f.index for f in items],
            "record_ids": [f.record_id for f in items],
            "request_ids": [f.request_id for f in items],
        },
    )
    winner: dict[tuple[Any, Any], int] = {}
    matched_items: set[int] = set()
    for ord_, record_id, event_time in found:
        matched_items.add(ord_)
        key = (record_id, event_time)
        if winner.get(key, -1) < ord_:
            winner[key] = ord_
    unmatched = [
        RecordError(
            f.index,
            f.record_id or f.request_id or "",
            f"feedback[{f.index}].{'record_id' if f.record_id else 'request_id'}",
            Reason.RECORD_NOT_FOUND,
            "no record of the project has this " + ("record id" if f.record_id else "request id"),
        )
        for f in items
        if f.index not in matched_items
    ]
    if not winner:
        return 0, unmatched
    keys = sorted(winner, key=lambda k: (str(k[0]), k[1]))
    locked = (
        await conn.execute(
            _LOCK, {"record_ids": [k[0] for k in keys], "event_times": [k[1] for k in keys]}
        )
    ).all()
    deltas: dict[tuple[int, Any, int, int], _Delta] = {}
    updates: list[tuple[Any, ...]] = []
    for row in locked:
        f = by_ord[winner[(row.record_id, row.event_time)]]
        rollup = (row.model_id, row.hour, row.version, row.deployment_id)
        delta = deltas.setdefault(rollup, _Delta())
        if row.feedback_time is not None:
            delta.add(-1, row.predicted_value, row.predicted_label, row.true_value, row.true_label)
        delta.add(1, row.predicted_value, row.predicted_label, f.true_value, f.true_label)
        updates.append((row.record_id, row.event_time, f.true_value, f.true_label, f.feedback_time))
    await conn.execute(
        _UPDATE,
        dict(
            zip(
                ("record_ids", "event_times", "true_values", "true_labels", "feedback_times"),
                (list(c) for c in zip(*updates, strict=True)),
                strict=True,
            )
        ),
    )
    daily: dict[tuple[int, Any, int, int], _Delta] = {}
    for (model_id, hour, version, deployment_id), d in deltas.items():
        day = hour.replace(hour=0)
        daily.setdefault((model_id, day, version, deployment_id), _Delta()).merge(d)
    # Hourly rows, then daily rows, each in key order, as ingest locks them.
    await _move(conn, _HOURLY, deltas)
    await _move(conn, _DAILY, daily)
    return len(locked), unmatched


async def _move(
    conn: Conn, statement: Any, deltas: dict[tuple[int, Any, int, int], _Delta]
) -> None:
    order = sorted(deltas)
    await conn.execute(
        statement,
        {
            "model_ids": [k[0] for k in order],
            "hours": [k[1] for k in order],
            "versions": [k[2] for k in order],
            "deployment_ids": [k[3] for k in order],
            "feedback_counts": [deltas[k].feedback for k in order],
            "labeled_counts": [deltas[k].labeled for k in order],
            "correct_counts": [deltas[k].correct for k in order],
            "valued_counts": [deltas[k].valued for k in order],
            "abs_err_sums": [deltas[k].abs_err for k in order],
            "sq_err_sums": [deltas[k].sq_err for k in order],
        },
    )
