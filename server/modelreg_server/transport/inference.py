"""ProductionService's inference methods: the ingest stream and batch call,
records, feedback and production metrics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timezone

from grpc.aio import ServicerContext as Context

from modelreg.api.v1 import production_service_pb2 as rpc
from modelreg_server.domain import inference as inf
from modelreg_server.domain.errors import InvalidArgument
from modelreg_server.service.inference import InferenceService
from modelreg_server.transport import inference_convert as convert
from modelreg_server.transport import names

_Batch = rpc.WriteInferenceRecordsRequest | rpc.WriteInferenceRecordBatchRequest
_Ack = rpc.WriteInferenceRecordsResponse | rpc.WriteInferenceRecordBatchResponse
# Batches of one stream being written at once (each on a database connection of
# its own).
STREAM_IN_FLIGHT = 2


class InferenceMethods:
    _inference: InferenceService

    async def _write_batch(self, request: _Batch, response: _Ack) -> _Ack:
        project = names.project(request.parent, "parent")
        convert.no_nul(request.writer_id, "writer_id")
        if len(request.writer_id) > inf.MAX_REQUEST_ID_CHARS:
            raise InvalidArgument("writer_id", "longer than 128 characters")
        records = request.records
        if len(records) > inf.MAX_BATCH_RECORDS:
            raise InvalidArgument(
                "records", f"at most {inf.MAX_BATCH_RECORDS} records, got {len(records)}"
            )
        oldest, newest = self._inference.event_window()
        limits = self._inference.limits
        rows, rejected, sent = convert.records_in(records, oldest, newest, limits)
        result = await self._inference.write_records(
            project, request.writer_id, rows, rejected, sent
        )
        response.batch_seq = request.batch_seq
        response.accepted = result.accepted
        response.duplicates = result.duplicates
        add = response.errors.add
        for e in result.errors:
            convert.fill_error(add(), e)
        return response

    async def WriteInferenceRecords(
        self, request_iterator: AsyncIterator[rpc.WriteInferenceRecordsRequest], context: Context
    ) -> AsyncIterator[rpc.WriteInferenceRecordsResponse]:
        """Batches are read as they come and written up to ``STREAM_IN_FLIGHT`` at
        once (the next one converted and copied while the previous one commits);
        acks go out in the order of the batches, each after its own commit. A
        batch that fails ends the stream after the acks of the batches before it."""
        slots = asyncio.Semaphore(STREAM_IN_FLIGHT)
        queue: asyncio.Queue[asyncio.Task[_Ack] | Exception | None] = asyncio.Queue()

        async def read() -> None:
            try:
                async for request in request_iterator:
                    await slots.acquire()
                    ack = rpc.WriteInferenceRecordsResponse()
                    queue.put_nowait(asyncio.create_task(self._write_batch(request, ack)))
            except Exception as exc:  # ends the stream once the acks before it are out
                queue.put_nowait(exc)
            else:
                queue.put_nowait(None)

        reader = asyncio.create_task(read())
        try:
            while (item := await queue.get()) is not None:
                if isinstance(item, Exception):
                    raise item
                done = await item
                slots.release()
                yield done  # type: ignore[misc]
        finally:
            reader.cancel()
            while not queue.empty():
                left = queue.get_nowait()
                if isinstance(left, asyncio.Task):
                    left.cancel()
                    if left.done() and not left.cancelled():
                        left.exception()  # retrieved: the stream ended before its ack

    async def WriteInferenceRecordBatch(
        self, request: rpc.WriteInferenceRecordBatchRequest, context: Context
    ) -> rpc.WriteInferenceRecordBatchResponse:
        ack = await self._write_batch(request, rpc.WriteInferenceRecordBatchResponse())
        return ack  # type: ignore[return-value]

    async def ListInferenceRecords(
        self, request: rpc.ListInferenceRecordsRequest, context: Context
    ) -> rpc.ListInferenceRecordsResponse:
        project, model = names.model(request.parent, "parent")
        if request.version < 0:
            raise InvalidArgument("version", "must not be negative")
        convert.no_nul(request.deployment, "deployment")
        convert.no_nul(request.request_id, "request_id")
        for key, value in request.attributes.items():
            convert.no_nul(key, "attributes")
            convert.no_nul(value, f"attributes[{key!r}]")
        q = inf.RecordQuery(
            project=project,
            model=model,
            version=request.version,
            deployment=request.deployment,
            start_time=convert.timestamp_or_none(
                request.HasField("start_time"), request.start_time, "start_time"
            ),
            end_time=convert.timestamp_or_none(
                request.HasField("end_time"), request.end_time, "end_time"
            ),
            request_id=request.request_id,
            attributes=dict(request.attributes),
            page_size=request.page_size,
            page_token=request.page_token,
        )
        records, token = await self._inference.list_records(q)
        response = rpc.ListInferenceRecordsResponse(next_page_token=token)
        add = response.records.add
        for r in records:
            convert.fill_record(add(), r)
        return response

    async def WriteFeedback(
        self, request: rpc.WriteFeedbackRequest, context: Context
    ) -> rpc.WriteFeedbackResponse:
        project = names.project(request.parent, "parent")
        items, rejected = convert.feedback_in(request.feedback, datetime.now(timezone.utc))
        result = await self._inference.write_feedback(project, items, rejected)
        response = rpc.WriteFeedbackResponse(matched=result.matched)
        add = response.errors.add
        for e in result.errors:
            convert.fill_error(add(), e)
        return response

    async def GetProductionMetrics(
        self, request: rpc.GetProductionMetricsRequest, context: Context
    ) -> rpc.GetProductionMetricsResponse:
        project, model = names.model(request.parent, "parent")
        if request.version < 0:
            raise InvalidArgument("version", "must not be negative")
        convert.no_nul(request.deployment, "deployment")
        convert.no_nul(request.group_by_attribute, "group_by_attribute")
        q = inf.MetricsQuery(
            project=project,
            model=model,
            version=request.version,
            deployment=request.deployment,
            start_time=convert.timestamp_or_none(
                request.HasField("start_time"), request.start_time, "start_time"
            ),
            end_time=convert.timestamp_or_none(
                request.HasField("end_time"), request.end_time, "end_time"
            ),
            bucket=convert.bucket(request.bucket),
            group_by_version=request.group_by_version,
            group_by_attribute=request.group_by_attribute,
        )
        metrics = await self._inference.metrics(q)
        response = rpc.GetProductionMetricsResponse()
        response.start_time.FromDatetime(metrics.start_time)
        response.end_time.FromDatetime(metrics.end_time)
        add = response.rows.add
        for row in metrics.rows:
            convert.fill_metrics_row(add(), row)
        return response
