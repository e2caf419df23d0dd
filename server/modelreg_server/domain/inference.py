"""Inference records, their feedback and production metrics: what the service and
storage layers exchange.

A record on the ingest path is a plain tuple (``RecordIn``), not a dataclass:
batches of 10,000 are converted per call, and building a tuple is the cheapest
Python object there is. The latency histogram's buckets are defined here, so
storage (which fills them in SQL) and the metrics (which read them) agree."""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

MAX_BATCH_RECORDS = 10_000
MAX_FEEDBACK_ITEMS = 10_000
MAX_REQUEST_ID_CHARS = 128
# An event time may be this far ahead of the server's clock (clock skew).
FUTURE_SLACK_S = 86_400

# Latency histogram: log buckets of relative accuracy 1%. Bucket i holds the
# latencies x with gamma**(i-1) < x <= gamma**i, i = ceil(log(x) / log(gamma)),
# and stands for 2 * gamma**i / (gamma + 1), within 1% of any of them. 0 ms has a
# bucket of its own.
GAMMA = 1.01 / 0.99
LOG_GAMMA = math.log(GAMMA)
ZERO_BUCKET = "z"
# Its number where buckets are sorted by number (below any other).
ZERO_BUCKET_NUMBER = -(2**31)

# A record on the ingest path, as the transport parsed it:
# (index, record_id (canonical), model, version, deployment, event time in
#  microseconds since the epoch, request_id, inputs, outputs, predicted_value,
#  predicted_label, latency_ms, attributes as a JSON object's text or None)
RecordIn = tuple[
    int,
    str,
    str,
    int,
    str,
    int,
    str,
    bytes | None,
    bytes | None,
    float | None,
    str | None,
    float | None,
    str | None,
]


class Reason(str, Enum):
    """Why one record or feedback item was not stored (RecordError.reason)."""

    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    INVALID_UUID = "INVALID_UUID"
    INVALID_JSON = "INVALID_JSON"
    MODEL_NOT_FOUND = "MODEL_NOT_FOUND"
    VERSION_NOT_FOUND = "VERSION_NOT_FOUND"
    DEPLOYMENT_NOT_FOUND = "DEPLOYMENT_NOT_FOUND"
    RECORD_NOT_FOUND = "RECORD_NOT_FOUND"


@dataclass(frozen=True)
class RecordError:
    index: int
    record_id: str
    field: str
    reason: Reason
    message: str


@dataclass(frozen=True)
class BatchResult:
    accepted: int
    duplicates: int
    errors: Sequence[RecordError]


@dataclass(frozen=True)
class Feedback:
    true_value: float | None
    true_label: str | None
    feedback_time: datetime


@dataclass(frozen=True)
class InferenceRecord:
    record_id: str
    model: str
    version: int
    deployment: str
    event_time: datetime
    request_id: str
    inputs: str | None  # JSON text
    outputs: str | None
    predicted_value: float | None
    predicted_label: str | None
    latency_ms: float | None
    attributes: Mapping[str, str]
    ingest_time: datetime
    feedback: Feedback | None


@dataclass(frozen=True)
class RecordQuery:
    project: str
    model: str
    version: int = 0
    deployment: str = ""
    start_time: datetime | None = None
    end_time: datetime | None = None
    request_id: str = ""
    attributes: Mapping[str, str] = field(default_factory=dict)
    page_size: int = 0
    page_token: str = ""


@dataclass(frozen=True)
class FeedbackIn:
    """One feedback item, checked: exactly one of record_id / request_id, one of
    true_value / true_label."""

    index: int
    record_id: str | None
    request_id: str | None
    true_value: float | None
    true_label: str | None
    feedback_time: datetime


@dataclass(frozen=True)
class FeedbackResult:
    matched: int
    errors: Sequence[RecordError]


class Bucket(Enum):
    NONE = "none"
    HOUR = "hour"
    DAY = "day"


@dataclass(frozen=True)
class MetricsQuery:
    project: str
    model: str
    version: int = 0
    deployment: str = ""
    start_time: datetime | None = None
    end_time: datetime | None = None
    bucket: Bucket = Bucket.NONE
    group_by_version: bool = False
    group_by_attribute: str = ""


@dataclass(frozen=True)
class Sums:
    """What a metrics row is computed from (one rollup, or rollups merged)."""

    count: int
    feedback_count: int
    labeled_count: int
    correct_count: int
    valued_count: int
    abs_err_sum: float
    sq_err_sum: float
    latency_count: int
    latency_sum: float
    # The latency histogram, by bucket number (ascending), and the counts.
    hist_buckets: Sequence[int]
    hist_counts: Sequence[int]


@dataclass(frozen=True)
class MetricsRow:
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
class Metrics:
    rows: Sequence[MetricsRow]
    start_time: datetime
    end_time: datetime


def bucket_value(bucket: int) -> float:
    """The latency a histogram bucket (by number) stands for."""
    if bucket == ZERO_BUCKET_NUMBER:
        return 0.0
    return 2 * GAMMA**bucket / (GAMMA + 1)


def percentiles(
    buckets: Sequence[int], counts: Sequence[int], qs: Sequence[float]
) -> list[float | None]:
    """For each q, the value of the bucket holding the element of rank
    floor(q * (n - 1)) of the sorted latencies, from a histogram sorted by bucket."""
    cumulative = list(itertools.accumulate(counts))
    if not cumulative or cumulative[-1] <= 0:
        return [None] * len(qs)
    total = cumulative[-1]
    last = len(buckets) - 1
    return [
        bucket_value(
            buckets[min(bisect.bisect_right(cumulative, math.floor(q * (total - 1))), last)]
        )
        for q in qs
    ]


def metrics_row(
    bucket_start: datetime, version: int, attribute_value: str, s: Sums, traffic_percent: int
) -> MetricsRow:
    lc = s.latency_count
    p50, p95, p99 = percentiles(s.hist_buckets, s.hist_counts, (0.50, 0.95, 0.99))
    return MetricsRow(
        bucket_start=bucket_start,
        version=version,
        attribute_value=attribute_value,
        count=s.count,
        feedback_count=s.feedback_count,
        feedback_coverage=s.feedback_count / s.count if s.count else 0.0,
        labeled_count=s.labeled_count,
        accuracy=s.correct_count / s.labeled_count if s.labeled_count else None,
        valued_count=s.valued_count,
        mae=s.abs_err_sum / s.valued_count if s.valued_count else None,
        rmse=math.sqrt(max(s.sq_err_sum, 0.0) / s.valued_count) if s.valued_count else None,
        latency_count=lc,
        latency_p50_ms=p50,
        latency_p95_ms=p95,
        latency_p99_ms=p99,
        latency_mean_ms=s.latency_sum / lc if lc else None,
        traffic_percent=traffic_percent,
    )


def sums(row: Any) -> Sums:
    """Sums from a result row with the rollup's column names and the histogram's
    arrays (``hist_keys``, ``hist_counts``)."""
    return Sums(
        count=int(row["count"]),
        feedback_count=int(row["feedback_count"]),
        labeled_count=int(row["labeled_count"]),
        correct_count=int(row["correct_count"]),
        valued_count=int(row["valued_count"]),
        abs_err_sum=float(row["abs_err_sum"]),
        sq_err_sum=float(row["sq_err_sum"]),
        latency_count=int(row["latency_count"]),
        latency_sum=float(row["latency_sum"]),
        hist_buckets=row["hist_keys"] or (),
        hist_counts=row["hist_counts"] or (),
    )


def merge_rollups(rows: Iterable[Any]) -> list[tuple[tuple[Any, int, str], Sums]]:
    """Rollup rows (b, v, a, then the rollup's sums and its ``latency_hist`` map)
    merged per group (b, v, a), by group."""
    groups: dict[tuple[Any, int, str], list[Any]] = {}
    for row in rows:
        b, v, a, count, fb, lab, cor, val, abs_err, sq_err, lat_n, lat_sum, hist = row
        key = (b, int(v), a)
        acc = groups.get(key)
        if acc is None:
            groups[key] = [count, fb, lab, cor, val, abs_err, sq_err, lat_n, lat_sum, dict(hist)]
            continue
        for i, x in enumerate((count, fb, lab, cor, val, abs_err, sq_err, lat_n, lat_sum)):
            acc[i] += x
        merged = acc[9]
        get = merged.get
        for k, n in hist.items():
            merged[k] = get(k, 0) + n
    out = []
    for key in sorted(groups):
        count, fb, lab, cor, val, abs_err, sq_err, lat_n, lat_sum, hist = groups[key]
        ordered = sorted(
            (ZERO_BUCKET_NUMBER if k == ZERO_BUCKET else int(k), n) for k, n in hist.items() if n
        )
        out.append(
            (
                key,
                Sums(
                    count=int(count),
                    feedback_count=int(fb),
                    labeled_count=int(lab),
                    correct_count=int(cor),
                    valued_count=int(val),
                    abs_err_sum=float(abs_err),
                    sq_err_sum=float(sq_err),
                    latency_count=int(lat_n),
                    latency_sum=float(lat_sum),
                    hist_buckets=[k for k, _ in ordered],
                    hist_counts=[n for _, n in ordered],
                ),
            )
        )
    return out
