"""Frozen result types of production tracking: inference records, feedback, production
metrics, and the inference logger's counters. Times are timezone-aware UTC datetimes;
this module knows nothing of protobuf (``_inference_convert`` does the conversions)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# A prediction metrics can score: a label (accuracy) or a number (MAE, RMSE).
Prediction = str | float


@dataclass(frozen=True)
class Feedback:
    """Ground truth for one record (by ``record_id``) or for every record of a request
    (by ``request_id``); ``feedback_time`` None means the server's time."""

    ground_truth: Prediction
    record_id: str = ""
    request_id: str = ""
    feedback_time: datetime | None = None


@dataclass(frozen=True)
class InferenceRecord:
    """One prediction made in production, tagged with the exact version that made it.

    ``inputs`` and ``outputs`` are the decoded JSON documents (None when not sent);
    ``prediction`` is the label (str) or number (float) the record was logged with.
    ``feedback`` and ``ingest_time`` are set by the server. Build one yourself for
    ``client.write_inference_records``; the inference logger builds them for you.
    """

    record_id: str
    model: str
    version: int
    event_time: datetime
    deployment: str = ""
    request_id: str = ""
    inputs: Any = None
    outputs: Any = None
    prediction: Prediction | None = None
    latency_ms: float | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)
    feedback: Feedback | None = None
    ingest_time: datetime | None = None


@dataclass(frozen=True)
class RecordError:
    """Why one record (or feedback item) of a batch was not stored: its position in
    the batch, its id as sent, the field at fault, a machine-readable reason such as
    ``VERSION_NOT_FOUND``, and a message for people."""

    index: int
    record_id: str
    field: str
    reason: str
    message: str


@dataclass(frozen=True)
class WriteResult:
    """The acknowledgement of one batch: records stored, records already there (sent
    before), and the rejected ones; ``accepted + duplicates + len(errors)`` is its size."""

    batch_seq: int
    accepted: int
    duplicates: int
    errors: tuple[RecordError, ...] = ()


@dataclass(frozen=True)
class FeedbackResult:
    """Records that got their ground truth (a request id may match several), and the
    items not applied."""

    matched: int
    errors: tuple[RecordError, ...] = ()


@dataclass(frozen=True)
class ProductionMetrics:
    """One row of production metrics: a bucket (the window's start when not bucketed),
    the version and attribute value when grouped by them (else 0 and ""), counts, and
    the scores (None where nothing could be scored). ``traffic_percent`` is the version's
    share of the deployment's traffic now, with a deployment and grouped by version."""

    bucket_start: datetime
    version: int
    attribute_value: str
    count: int
    feedback_count: int
    feedback_coverage: float
    labeled_count: int
    accuracy: float | None
    valued_count: int
    mae: float | None
    rmse: float | None
    latency_count: int
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    latency_p99_ms: float | None
    latency_mean_ms: float | None
    traffic_percent: int


@dataclass(frozen=True)
class ProductionMetricsReport:
    """The rows of ``client.production_metrics`` (by bucket, then version, then attribute
    value) and the window used: whole hours, the end exclusive."""

    rows: tuple[ProductionMetrics, ...]
    start_time: datetime
    end_time: datetime


@dataclass(frozen=True)
class LoggerStats:
    """The counters of an inference logger; ``acked + dropped + pending == logged``.

    Attributes:
        logged: ``log()`` calls.
        acked: records the server acknowledged: ``accepted + duplicates + rejected``.
        dropped: records given up on the client's side: ``dropped_full`` (the buffer
            was full), ``invalid`` (arguments that could not be encoded, e.g. inputs
            that are not JSON-serialisable) and ``failed`` (batches the server refused
            as a whole with a non-retryable status).
        pending: logged, neither acknowledged nor dropped yet.
        rejected: acknowledged but refused by the server record by record (unknown
            version, bad attribute...); see ``last_error``.
        accepted: stored by the server.
        duplicates: already stored (a resend of a record whose first ack was lost).
        batches: batches acknowledged.
        resent: batches sent again after a reconnect.
        reconnects: streams opened after the first.
        last_error: the last stream error or record rejection, for people.
    """

    logged: int
    acked: int
    dropped: int
    pending: int
    rejected: int
    accepted: int = 0
    duplicates: int = 0
    dropped_full: int = 0
    invalid: int = 0
    failed: int = 0
    batches: int = 0
    resent: int = 0
    reconnects: int = 0
    last_error: str = ""
