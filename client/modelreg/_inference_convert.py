"""Conversions between the production-tracking wire messages and the SDK's types
(``_inference_types``), and the request builders of the inference methods."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from modelreg import _requests as req
from modelreg._convert import optional_time, time, time_to_pb
from modelreg._inference_types import (
    Feedback,
    FeedbackResult,
    InferenceRecord,
    Prediction,
    ProductionMetrics,
    ProductionMetricsReport,
    RecordError,
    WriteResult,
)
from modelreg.api.v1 import production_service_pb2 as prod
from modelreg.api.v1 import resources_pb2 as pb

BUCKETS = {
    None: prod.GetProductionMetricsRequest.BUCKET_UNSPECIFIED,
    "hour": prod.GetProductionMetricsRequest.BUCKET_HOUR,
    "day": prod.GetProductionMetricsRequest.BUCKET_DAY,
}
# The server's largest batch of records or feedback items.
MAX_BATCH = 10_000

TimeArg = datetime | timedelta | None


def when(value: TimeArg, what: str) -> datetime | None:
    """A time argument: a timezone-aware datetime, or a timedelta meaning that long ago."""
    if value is None or isinstance(value, datetime):
        return value
    if isinstance(value, timedelta):
        return datetime.now(timezone.utc) - value
    raise TypeError(f"{what}: expected a datetime or a timedelta, got {type(value).__name__}")


def _json(value: Any) -> bytes:
    if value is None:
        return b""
    if isinstance(value, bytes):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def _decoded(raw: bytes) -> Any:
    """The JSON document, or the bytes as they came if they are not JSON."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def truth_fields(value: Prediction, what: str) -> dict[str, Any]:
    """A label or a number, as the oneof member of ``what`` it goes in."""
    prefix = "predicted" if what == "prediction" else "true"
    if isinstance(value, str):
        return {f"{prefix}_label": value}
    if isinstance(value, bool):
        return {f"{prefix}_label": "true" if value else "false"}
    if isinstance(value, int | float):
        return {f"{prefix}_value": float(value)}
    raise TypeError(f"{what}: expected a str or a number, got {type(value).__name__}")


def record_to_pb(record: InferenceRecord) -> pb.InferenceRecord:
    fields: dict[str, Any] = {}
    if record.prediction is not None:
        fields.update(truth_fields(record.prediction, "prediction"))
    if record.latency_ms is not None:
        fields["latency_ms"] = float(record.latency_ms)
    return pb.InferenceRecord(
        record_id=record.record_id,
        model=record.model,
        version=record.version,
        deployment=record.deployment,
        event_time=time_to_pb(record.event_time),
        request_id=record.request_id,
        inputs=_json(record.inputs),
        outputs=_json(record.outputs),
        attributes=dict(record.attributes),
        **fields,
    )


def feedback_to_pb(item: Feedback) -> pb.Feedback:
    if bool(item.record_id) == bool(item.request_id):
        raise ValueError("feedback: give exactly one of record_id and request_id")
    fields = truth_fields(item.ground_truth, "ground_truth")
    if item.feedback_time is not None:
        fields["feedback_time"] = time_to_pb(item.feedback_time)
    if item.record_id:
        return pb.Feedback(record_id=item.record_id, **fields)
    return pb.Feedback(request_id=item.request_id, **fields)


def _truth(msg: Any, prefix: str) -> Prediction | None:
    which = msg.WhichOneof("prediction" if prefix == "predicted" else "ground_truth")
    return None if which is None else getattr(msg, which)


def feedback(msg: pb.Feedback) -> Feedback:
    truth = _truth(msg, "true")
    return Feedback(
        ground_truth="" if truth is None else truth,
        record_id=msg.record_id,
        request_id=msg.request_id,
        feedback_time=optional_time(msg, "feedback_time"),
    )


def inference_record(msg: pb.InferenceRecord) -> InferenceRecord:
    return InferenceRecord(
        record_id=msg.record_id,
        model=msg.model,
        version=msg.version,
        event_time=time(msg.event_time),
        deployment=msg.deployment,
        request_id=msg.request_id,
        inputs=_decoded(msg.inputs),
        outputs=_decoded(msg.outputs),
        prediction=_truth(msg, "predicted"),
        latency_ms=msg.latency_ms if msg.HasField("latency_ms") else None,
        attributes=dict(msg.attributes),
        feedback=feedback(msg.feedback) if msg.HasField("feedback") else None,
        ingest_time=optional_time(msg, "ingest_time"),
    )


def record_error(msg: prod.RecordError, offset: int = 0) -> RecordError:
    return RecordError(
        index=msg.index + offset,
        record_id=msg.record_id,
        field=msg.field,
        reason=msg.reason,
        message=msg.message,
    )


def write_result(msg: prod.WriteInferenceRecordBatchResponse) -> WriteResult:
    return WriteResult(
        batch_seq=msg.batch_seq,
        accepted=msg.accepted,
        duplicates=msg.duplicates,
        errors=tuple(record_error(e) for e in msg.errors),
    )


def _optional(msg: Any, field: str) -> float | None:
    return float(getattr(msg, field)) if msg.HasField(field) else None


def metrics_row(msg: prod.ProductionMetrics) -> ProductionMetrics:
    return ProductionMetrics(
        bucket_start=time(msg.bucket_start),
        version=msg.version,
        attribute_value=msg.attribute_value,
        count=msg.count,
        feedback_count=msg.feedback_count,
        feedback_coverage=msg.feedback_coverage,
        labeled_count=msg.labeled_count,
        accuracy=_optional(msg, "accuracy"),
        valued_count=msg.valued_count,
        mae=_optional(msg, "mae"),
        rmse=_optional(msg, "rmse"),
        latency_count=msg.latency_count,
        latency_p50_ms=_optional(msg, "latency_p50_ms"),
        latency_p95_ms=_optional(msg, "latency_p95_ms"),
        latency_p99_ms=_optional(msg, "latency_p99_ms"),
        latency_mean_ms=_optional(msg, "latency_mean_ms"),
        traffic_percent=msg.traffic_percent,
    )


def metrics_report(msg: prod.GetProductionMetricsResponse) -> ProductionMetricsReport:
    return ProductionMetricsReport(
        rows=tuple(metrics_row(r) for r in msg.rows),
        start_time=time(msg.start_time),
        end_time=time(msg.end_time),
    )


def _window(request: Any, since: TimeArg, until: TimeArg) -> None:
    start, end = when(since, "since"), when(until, "until")
    if start is not None:
        request.start_time.CopyFrom(time_to_pb(start))
    if end is not None:
        request.end_time.CopyFrom(time_to_pb(end))


def list_records_request(
    project: str,
    model: str,
    *,
    version: int | None,
    deployment: str | None,
    since: TimeArg,
    until: TimeArg,
    request_id: str | None,
    attributes: Mapping[str, str] | None,
    page_size: int,
) -> prod.ListInferenceRecordsRequest:
    request = prod.ListInferenceRecordsRequest(
        parent=req.model_name(project, model),
        page_size=page_size,
        version=version or 0,
        deployment=deployment or "",
        request_id=request_id or "",
        attributes=dict(attributes or {}),
    )
    _window(request, since, until)
    return request


def metrics_request(
    project: str,
    model: str,
    *,
    version: int | None,
    deployment: str | None,
    since: TimeArg,
    until: TimeArg,
    by: str | Sequence[str] | None,
    bucket: str | None,
) -> prod.GetProductionMetricsRequest:
    if bucket not in BUCKETS:
        raise ValueError(f"bucket: expected 'hour', 'day' or None, got {bucket!r}")
    groups = [by] if isinstance(by, str) else list(by or ())
    attributes = [g for g in groups if g != "version"]
    if len(attributes) > 1:
        raise ValueError(f"by: 'version' and at most one attribute, got {groups!r}")
    request = prod.GetProductionMetricsRequest(
        parent=req.model_name(project, model),
        version=version or 0,
        deployment=deployment or "",
        bucket=BUCKETS[bucket],
        group_by_version="version" in groups,
        group_by_attribute=attributes[0] if attributes else "",
    )
    _window(request, since, until)
    return request


def chunks(items: Iterable[Any], size: int = MAX_BATCH) -> Iterable[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def merge_feedback(results: Iterable[tuple[int, prod.WriteFeedbackResponse]]) -> FeedbackResult:
    matched = 0
    errors: list[RecordError] = []
    for offset, msg in results:
        matched += msg.matched
        errors.extend(record_error(e, offset) for e in msg.errors)
    return FeedbackResult(matched=matched, errors=tuple(errors))
