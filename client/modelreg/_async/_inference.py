"""Production tracking: inference records, feedback, production metrics, and the
inference logger."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, cast

import grpc

from modelreg import _inference_convert as ic
from modelreg import _inference_logger as loggers
from modelreg import _requests as req
from modelreg._async._rpc import PRODUCTION, AsyncPager, AsyncRPC
from modelreg._errors import InvalidArgumentError, NotFoundError
from modelreg._inference_buffer import LoggerOptions
from modelreg._inference_types import (
    Feedback,
    FeedbackResult,
    InferenceRecord,
    Prediction,
    ProductionMetricsReport,
    WriteResult,
)
from modelreg._settings import Security
from modelreg.api.v1 import production_service_pb2 as prod
from modelreg.api.v1 import registry_service_pb2 as rpc

# Records in pages of the server's largest size: a listing is usually read whole.
_RECORDS_PAGE = 1_000


class _Targeted(Protocol):
    # The client's ``host:port`` and its key and TLS material: an inference logger
    # opens its own channel to it.
    target: str
    security: Security


class AsyncInference:
    """The production-tracking methods of AsyncClient (deployments are in AsyncDeployments)."""

    _rpc: AsyncRPC

    async def inference_logger(
        self,
        project: str,
        model: str,
        *,
        alias: str = "production",
        version: int | None = None,
        deployment: str | None = None,
        **options: Any,
    ) -> loggers.AsyncInferenceLogger:
        """A logger of the predictions a serving process makes with one model version.

        The version is resolved once, now: ``version`` if given, else the version
        ``alias`` points to; ``logger.version`` is the exact number every record is
        tagged with. ``log()`` never blocks nor raises; a background thread with its own
        channel sends the records. Call ``close()`` when done (also done at exit).

        Args:
            alias: the alias to resolve when ``version`` is not given.
            version: the exact version number.
            deployment: the deployment id the records are served by, if any.
            **options: see ``modelreg.LoggerOptions``: ``max_buffer_records``
                (100,000), ``max_buffer_bytes``, ``batch_records``, ``batch_bytes``,
                ``flush_interval_s``, ``max_in_flight``, ``on_full`` (``"drop"`` or
                ``"block"``), ``block_timeout_s``, ``ack_timeout_s``, backoff and exit
                settings.

        Raises:
            NotFoundError: no such model, version or alias.

        Example:
            >>> logger = client.inference_logger("translate_kr2en", "translate_kr2en",
            ...                                  alias="production", deployment="prod")
            >>> rid = logger.log(inputs={"text": "..."}, prediction="positive",
            ...                  latency_ms=12.5, request_id="req-123")
        """
        settings = LoggerOptions(**options)
        name = req.version_name(project, model, alias if version is None else version)
        found = await self._rpc.call("GetModelVersion", rpc.GetModelVersionRequest(name=name))
        client = cast(_Targeted, self)
        return loggers.AsyncInferenceLogger(
            client.target,
            project,
            model,
            found.version,
            deployment=deployment or "",
            options=settings,
            security=client.security,
        )

    async def write_inference_records(
        self,
        project: str,
        records: Iterable[InferenceRecord],
        *,
        writer_id: str = "",
        batch_seq: int = 0,
    ) -> WriteResult:
        """Store one batch of records (at most 10,000) in one call, for code that cannot
        keep a logger; sending it again stores nothing twice (records are deduplicated
        by record id and event time). A record the server refuses is in ``errors``;
        the rest are stored."""
        request = prod.WriteInferenceRecordBatchRequest(
            parent=req.project_name(project),
            writer_id=writer_id,
            batch_seq=batch_seq,
            records=[ic.record_to_pb(r) for r in records],
        )
        response = await self._rpc.call("WriteInferenceRecordBatch", request, service=PRODUCTION)
        return ic.write_result(response)

    async def log_feedback(
        self,
        project: str,
        *,
        record_id: str | None = None,
        request_id: str | None = None,
        ground_truth: Prediction,
        feedback_time: datetime | None = None,
    ) -> int:
        """Record the ground truth of one record (``record_id``) or of every record of a
        request (``request_id``); the last write wins. Returns how many records got it.

        Args:
            ground_truth: a label (``str``, scored against ``predicted_label``) or a
                number (scored against ``predicted_value``).
            feedback_time: when the truth was known (timezone-aware); the server's time
                if None.

        Raises:
            NotFoundError: no record has that id or request id (yet).
            InvalidArgumentError: a bad field.
        """
        item = Feedback(
            ground_truth=ground_truth,
            record_id=record_id or "",
            request_id=request_id or "",
            feedback_time=feedback_time,
        )
        request = prod.WriteFeedbackRequest(
            parent=req.project_name(project), feedback=[ic.feedback_to_pb(item)]
        )
        response = await self._rpc.call("WriteFeedback", request, service=PRODUCTION)
        if response.errors:
            error = response.errors[0]
            cls = NotFoundError if error.reason == "RECORD_NOT_FOUND" else InvalidArgumentError
            code = (
                grpc.StatusCode.NOT_FOUND
                if cls is NotFoundError
                else grpc.StatusCode.INVALID_ARGUMENT
            )
            raise cls(code, f"{error.field}: {error.message}", reason=error.reason)
        matched: int = response.matched
        return matched

    async def log_feedback_batch(self, project: str, items: Iterable[Feedback]) -> FeedbackResult:
        """Record many ground truths, 10,000 a call; items not applied (no such record,
        a bad field) are in ``errors``, indexed by their position in ``items``."""
        results = []
        offset = 0
        for chunk in ic.chunks(items):
            request = prod.WriteFeedbackRequest(
                parent=req.project_name(project), feedback=[ic.feedback_to_pb(f) for f in chunk]
            )
            response = await self._rpc.call("WriteFeedback", request, service=PRODUCTION)
            results.append((offset, response))
            offset += len(chunk)
        return ic.merge_feedback(results)

    def list_inference_records(
        self,
        project: str,
        model: str,
        *,
        version: int | None = None,
        deployment: str | None = None,
        since: ic.TimeArg = None,
        until: ic.TimeArg = None,
        request_id: str | None = None,
        attributes: Mapping[str, str] | None = None,
        page_size: int = _RECORDS_PAGE,
    ) -> AsyncPager[InferenceRecord]:
        """Iterate over a model's inference records, newest first, with their feedback.

        Args:
            version: only this version's records.
            deployment: only this deployment's records.
            since: only records at or after this time (a datetime, or a timedelta: that
                long ago).
            until: only records before this time.
            request_id: only the records of this request.
            attributes: only records with every one of these attribute values.
            page_size: records per call (the server's largest page is 1,000).
        """
        request = ic.list_records_request(
            project,
            model,
            version=version,
            deployment=deployment,
            since=since,
            until=until,
            request_id=request_id,
            attributes=attributes,
            page_size=page_size,
        )
        return self._rpc.pages(
            "ListInferenceRecords",
            request,
            "records",
            ic.inference_record,
            service=PRODUCTION,
        )

    async def production_metrics(
        self,
        project: str,
        model: str,
        *,
        version: int | None = None,
        deployment: str | None = None,
        since: ic.TimeArg = None,
        until: ic.TimeArg = None,
        by: str | Sequence[str] | None = None,
        bucket: str | None = None,
    ) -> ProductionMetricsReport:
        """Production metrics of a model, one version or one deployment over a window:
        count, feedback coverage, accuracy (labels), MAE and RMSE (numbers), latency
        p50/p95/p99.

        Args:
            since: the window's start (rounded down to the hour); 7 days before its
                end if None. A timedelta means that long ago.
            until: the window's end (rounded up to the hour); now if None.
            by: ``"version"``, an attribute name, or both as a list: one row per value.
            bucket: ``"hour"`` or ``"day"`` for a row per bucket; None for the window.

        Example:
            >>> report = client.production_metrics("translate_kr2en", "translate_kr2en",
            ...                                    deployment="prod", by="version")
            >>> {row.version: row.accuracy for row in report.rows}
        """
        request = ic.metrics_request(
            project,
            model,
            version=version,
            deployment=deployment,
            since=since,
            until=until,
            by=by,
            bucket=bucket,
        )
        response = await self._rpc.call("GetProductionMetrics", request, service=PRODUCTION)
        return ic.metrics_report(response)
