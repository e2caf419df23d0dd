"""Use cases on inference records: ingest, list, feedback, production metrics.

Ingest is not idempotent by request id but by record: a batch sent again stores
nothing twice (records are deduplicated by (record_id, event_time)), so no
request log is kept for it. Each call is one transaction (feedback, a batch), a
batch's partitions made before it in a short one of their own."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone

from modelreg_server.domain import errors
from modelreg_server.domain import inference as inf
from modelreg_server.domain.inference import RecordError, RecordIn
from modelreg_server.limits import DEFAULT_LIMITS, FieldLimits
from modelreg_server.storage import feedback as feedback_q
from modelreg_server.storage import inference as records_q
from modelreg_server.storage import inference_list, prod_metrics
from modelreg_server.storage.inference_partitions import Partitions
from modelreg_server.storage.store import Store


class InferenceService:
    def __init__(
        self, store: Store, retention_days: int = 0, limits: FieldLimits = DEFAULT_LIMITS
    ) -> None:
        self._store = store
        self._retention_days = retention_days
        self._partitions = Partitions(store)
        self.limits = limits  # what the transport checks each record against

    def event_window(self) -> tuple[int, int]:
        """The event times a record may have now, in seconds since the epoch: not
        older than the retention period, at most a day ahead."""
        now = int(time.time())
        oldest = now - self._retention_days * 86_400 if self._retention_days else 0
        return oldest, now + inf.FUTURE_SLACK_S

    async def write_records(
        self,
        project: str,
        writer_id: str,
        rows: Sequence[RecordIn],
        rejected: Sequence[RecordError],
        sent_ids: Mapping[int, str],
    ) -> inf.BatchResult:
        """Store a batch: ``rows`` passed their own checks, ``rejected`` did not."""
        if not rows:
            async with self._store.read() as conn:
                await records_q.project_id(conn, project)
            return inf.BatchResult(0, 0, sorted(rejected, key=lambda e: e.index))
        result = await records_q.write_batch(
            self._store, self._partitions, project, writer_id, rows, sent_ids
        )
        errs = result.errors
        if rejected:
            errs = sorted([*rejected, *errs], key=lambda e: e.index)
        elif errs:
            errs = sorted(errs, key=lambda e: e.index)
        return inf.BatchResult(result.accepted, result.duplicates, errs)

    async def list_records(self, q: inf.RecordQuery) -> tuple[list[inf.InferenceRecord], str]:
        tokens = await self._store.page_tokens()
        async with self._store.read() as conn:
            return await inference_list.list_records(conn, q, tokens)

    async def write_feedback(
        self, project: str, items: Sequence[inf.FeedbackIn], rejected: Sequence[RecordError]
    ) -> inf.FeedbackResult:
        async with self._store.write() as conn:
            matched, unmatched = await feedback_q.write(conn, project, items)
        errs = sorted([*rejected, *unmatched], key=lambda e: e.index)
        return inf.FeedbackResult(matched, errs)

    async def metrics(self, q: inf.MetricsQuery) -> inf.Metrics:
        now = datetime.now(timezone.utc)
        if q.group_by_attribute and len(q.group_by_attribute) > 63:
            raise errors.InvalidArgument("group_by_attribute", "at most 63 characters")
        async with self._store.read() as conn:
            return await prod_metrics.query(conn, q, now)
