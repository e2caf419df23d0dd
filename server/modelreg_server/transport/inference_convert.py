"""Inference records and feedback between protobuf and the domain.

``records_in`` is the ingest path's one loop in Python: it checks each record's
own fields and turns it into a ``RecordIn`` tuple, at a few microseconds a record.
Inputs and outputs are checked here only against the field limits (size and
depth); whether they are JSON, and what needs the database (model, version,
deployment), is checked later, per batch."""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Sequence
from datetime import datetime, timezone
from json.encoder import encode_basestring as quote
from typing import Any

from modelreg.api.v1 import production_service_pb2 as rpc
from modelreg.api.v1 import resources_pb2 as pb
from modelreg_server.domain import inference as inf
from modelreg_server.domain.errors import InvalidArgument
from modelreg_server.domain.inference import Reason, RecordError, RecordIn
from modelreg_server.limits import FieldLimits, setting
from modelreg_server.service import validation
from modelreg_server.transport.convert import TIME_RANGE, storable

_CANONICAL_UUID = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
).fullmatch
_ATTRIBUTE_KEY = re.compile(r"[A-Za-z0-9_.-]{1,63}").fullmatch
# Keys and names seen valid: they repeat from record to record.
_GOOD_KEYS: set[str] = set()
_GOOD_NAMES: set[str] = {""}  # no deployment
_MAX_GOOD_KEYS = 10_000


def _good_name(value: str) -> bool:
    """A model or deployment id (or none): 1-63 characters of a-z 0-9 _ -."""
    if value in _GOOD_NAMES:
        return True
    if not validation.NAME_RE.fullmatch(value):
        return False
    if len(_GOOD_NAMES) < _MAX_GOOD_KEYS:
        _GOOD_NAMES.add(value)
    return True


def no_nul(value: str, field: str) -> str:
    """``value``, if it has no NUL character (PostgreSQL text cannot hold one)."""
    if "\x00" in value:
        raise InvalidArgument(field, "contains a NUL character")
    return value


def canonical_uuid(text: str) -> str | None:
    """The canonical lower-case form of a UUID in any of its text forms, or None."""
    if _CANONICAL_UUID(text):
        return text
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None


def _attributes_error(
    keys: Sequence[str], values: Sequence[str], limits: FieldLimits
) -> str | None:
    if len(keys) > limits.max_attributes:
        return (
            f"at most {limits.max_attributes} attributes ({setting('max_attributes')}), "
            f"got {len(keys)}"
        )
    max_value = limits.max_attribute_value_chars
    for k, v in zip(keys, values, strict=True):
        if k not in _GOOD_KEYS:
            if not _ATTRIBUTE_KEY(k):
                return f"key {k[:80]!r} is not 1-63 characters of A-Z a-z 0-9 _ . -"
            if len(_GOOD_KEYS) < _MAX_GOOD_KEYS:
                _GOOD_KEYS.add(k)
        if len(v) > max_value:
            return (
                f"value of {k!r} is longer than {max_value} characters "
                f"({setting('max_attribute_value_chars')})"
            )
        if "\x00" in v:
            return f"value of {k!r} contains a NUL character"
    return None


def too_deep(doc: bytes, max_depth: int) -> bool:
    """Whether the JSON document ``doc`` nests objects and arrays deeper than
    ``max_depth`` (the top level is 1). A document that is not JSON is not too
    deep: PostgreSQL refuses it later, as INVALID_JSON."""
    try:
        value = json.loads(doc)
    except RecursionError:  # deeper than any limit allowed (limits.CEILINGS)
        return True
    except ValueError:
        return False
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > max_depth:
            return True
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


def json_problem(doc: bytes, limits: FieldLimits) -> str | None:
    """Why an inference record's inputs or outputs break the limits, or None."""
    if len(doc) > limits.max_inference_json_bytes:
        return (
            f"{len(doc)} bytes; at most {limits.max_inference_json_bytes} "
            f"({setting('max_inference_json_bytes')})"
        )
    if too_deep(doc, limits.max_inference_json_depth):
        return (
            f"nested deeper than {limits.max_inference_json_depth} levels "
            f"({setting('max_inference_json_depth')})"
        )
    return None


def _own_field_problem(
    r: pb.InferenceRecord, rid: str | None, oldest_s: int, newest_s: int
) -> tuple[str, Reason, str]:
    """Why a record failed the fast checks of ``records_in``."""
    if rid is None:
        return ("record_id", Reason.INVALID_UUID, "not a UUID")
    if not r.model:
        return ("model", Reason.INVALID_ARGUMENT, "required")
    if not _good_name(r.model):
        return ("model", Reason.INVALID_ARGUMENT, "not a model id")
    if r.version <= 0:
        return ("version", Reason.INVALID_ARGUMENT, "required: a version number")
    if not r.HasField("event_time"):
        return ("event_time", Reason.INVALID_ARGUMENT, "required")
    if not oldest_s <= r.event_time.seconds <= newest_s:
        return (
            "event_time",
            Reason.INVALID_ARGUMENT,
            "older than the retention period or more than a day ahead",
        )
    if not _good_name(r.deployment):
        return ("deployment", Reason.INVALID_ARGUMENT, "not a deployment id")
    if "\x00" in r.request_id:
        return ("request_id", Reason.INVALID_ARGUMENT, "contains a NUL character")
    return ("request_id", Reason.INVALID_ARGUMENT, "longer than 128 characters")


def records_in(
    records: Sequence[pb.InferenceRecord], oldest_s: int, newest_s: int, limits: FieldLimits
) -> tuple[list[RecordIn], list[RecordError], dict[int, str]]:
    """The records whose own fields are good, as tuples, why the others are not,
    and the ids as sent of the good ones not sent in canonical form (by index).
    Event times must lie in [oldest_s, newest_s] (seconds since the epoch; never
    the epoch itself, which is what an unset time reads as).

    Every protobuf field read costs a few hundred nanoseconds here: each is read
    once, and the reasons of a failure are worked out only for the failing record.
    JSON depth likewise: a document with at most ``max_depth`` brackets ('[' and
    '{', counted in C) cannot nest deeper, so only documents with more are parsed."""
    good: list[RecordIn] = []
    bad: list[RecordError] = []
    sent: dict[int, str] = {}
    append = good.append
    oldest_s = max(oldest_s, 1)
    max_request_id = inf.MAX_REQUEST_ID_CHARS
    max_attributes, max_value = limits.max_attributes, limits.max_attribute_value_chars
    max_bytes, max_depth = limits.max_inference_json_bytes, limits.max_inference_json_depth
    good_keys = _GOOD_KEYS
    good_names = _GOOD_NAMES
    inf_ = math.inf
    for i, r in enumerate(records):
        sent_id = r.record_id
        rid = sent_id if _CANONICAL_UUID(sent_id) else canonical_uuid(sent_id)
        model = r.model
        version = r.version
        t = r.event_time
        seconds = t.seconds
        request_id = r.request_id
        deployment = r.deployment
        problem: tuple[str, Reason, str] | None = None
        if (
            rid is None
            or (model not in good_names and not _good_name(model))
            or version <= 0
            or not oldest_s <= seconds <= newest_s
            or len(request_id) > max_request_id
            or "\x00" in request_id
            or (deployment not in good_names and not _good_name(deployment))
        ):
            problem = _own_field_problem(r, rid, oldest_s, newest_s)
        else:
            latency = r.latency_ms if r.HasField("latency_ms") else None
            if latency is not None and not 0.0 <= latency < inf_:
                problem = ("latency_ms", Reason.INVALID_ARGUMENT, "must be finite and >= 0")
            which = r.WhichOneof("prediction")
            value = label = None
            if which == "predicted_label":
                label = r.predicted_label
                if "\x00" in label:
                    problem = ("predicted_label", Reason.INVALID_ARGUMENT, "contains a NUL")
            elif which == "predicted_value":
                value = r.predicted_value
                if not -inf_ < value < inf_:
                    problem = ("predicted_value", Reason.INVALID_ARGUMENT, "must be finite")
            attrs = None
            attributes = r.attributes
            if attributes:
                keys = [*attributes]
                values = [attributes[k] for k in keys]
                if not (
                    len(keys) <= max_attributes
                    and good_keys.issuperset(keys)
                    and max(map(len, values)) <= max_value
                    and "\x00" not in "".join(values)
                ):
                    why = _attributes_error(keys, values, limits)
                    if why is not None:
                        problem = ("attributes", Reason.INVALID_ARGUMENT, why)
                # The keys need no escaping (checked: [A-Za-z0-9_.-]); one string is
                # far cheaper to COPY than two text arrays.
                pairs = zip(keys, values, strict=True)
                attrs = "{" + ",".join([f'"{k}":{quote(v)}' for k, v in pairs]) + "}"
            inputs = r.inputs
            if inputs and (
                len(inputs) > max_bytes or inputs.count(b"[") + inputs.count(b"{") > max_depth
            ):
                why = json_problem(inputs, limits)
                if why is not None:
                    problem = ("inputs", Reason.INVALID_ARGUMENT, why)
            outputs = r.outputs
            if outputs and (
                len(outputs) > max_bytes or outputs.count(b"[") + outputs.count(b"{") > max_depth
            ):
                why = json_problem(outputs, limits)
                if why is not None:
                    problem = ("outputs", Reason.INVALID_ARGUMENT, why)
        if problem is not None:
            field, reason, message = problem
            bad.append(RecordError(i, sent_id, f"records[{i}].{field}", reason, message))
            continue
        if rid is not sent_id:
            sent[i] = sent_id
        append(
            (
                i,
                rid,  # type: ignore[arg-type]
                model,
                version,
                deployment,
                seconds * 1_000_000 + t.nanos // 1000,
                request_id,
                inputs or None,
                outputs or None,
                value,
                label,
                latency,
                attrs,
            )
        )
    return good, bad, sent


def fill_error(e: rpc.RecordError, error: RecordError) -> rpc.RecordError:
    e.index = error.index
    e.record_id = error.record_id
    e.field = error.field
    e.reason = error.reason.value
    e.message = error.message
    return e


def fill_record(r: pb.InferenceRecord, record: inf.InferenceRecord) -> pb.InferenceRecord:
    r.record_id = record.record_id
    r.model = record.model
    r.version = record.version
    r.deployment = record.deployment
    r.event_time.FromDatetime(record.event_time)
    r.request_id = record.request_id
    if record.inputs is not None:
        r.inputs = record.inputs.encode()
    if record.outputs is not None:
        r.outputs = record.outputs.encode()
    if record.predicted_value is not None:
        r.predicted_value = record.predicted_value
    elif record.predicted_label is not None:
        r.predicted_label = record.predicted_label
    if record.latency_ms is not None:
        r.latency_ms = record.latency_ms
    r.attributes.update(record.attributes)
    r.ingest_time.FromDatetime(record.ingest_time)
    fb = record.feedback
    if fb is not None:
        r.feedback.record_id = record.record_id
        if fb.true_value is not None:
            r.feedback.true_value = fb.true_value
        elif fb.true_label is not None:
            r.feedback.true_label = fb.true_label
        r.feedback.feedback_time.FromDatetime(fb.feedback_time)
    return r


def feedback_in(
    items: Sequence[pb.Feedback], now: datetime
) -> tuple[list[inf.FeedbackIn], list[RecordError]]:
    """The feedback items whose fields are good, and why the others are not."""
    if len(items) > inf.MAX_FEEDBACK_ITEMS:
        raise InvalidArgument(
            "feedback", f"at most {inf.MAX_FEEDBACK_ITEMS} items, got {len(items)}"
        )
    good: list[inf.FeedbackIn] = []
    bad: list[RecordError] = []
    for i, f in enumerate(items):
        key = f.WhichOneof("key")
        sent = f.record_id if key == "record_id" else f.request_id
        record_id = request_id = None
        problem: tuple[str, Reason, str] | None = None
        if key is None:
            problem = ("record_id", Reason.INVALID_ARGUMENT, "required: record_id or request_id")
        elif key == "record_id":
            record_id = canonical_uuid(f.record_id)
            if record_id is None:
                problem = ("record_id", Reason.INVALID_UUID, "not a UUID")
        elif (
            not f.request_id
            or len(f.request_id) > inf.MAX_REQUEST_ID_CHARS
            or "\x00" in f.request_id
        ):
            problem = ("request_id", Reason.INVALID_ARGUMENT, "1-128 characters, no NUL")
        else:
            request_id = f.request_id
        truth = f.WhichOneof("ground_truth")
        value = label = None
        if problem is None:
            if truth is None:
                problem = ("true_value", Reason.INVALID_ARGUMENT, "required: a value or a label")
            elif truth == "true_value":
                value = f.true_value
                if not math.isfinite(value):
                    problem = ("true_value", Reason.INVALID_ARGUMENT, "must be finite")
            else:
                label = f.true_label
                if "\x00" in label:
                    problem = ("true_label", Reason.INVALID_ARGUMENT, "contains a NUL character")
        when = now
        if problem is None and f.HasField("feedback_time"):
            sent_time = _feedback_time(f.feedback_time)
            if sent_time is None:
                problem = ("feedback_time", Reason.INVALID_ARGUMENT, TIME_RANGE)
            else:
                when = sent_time
        if problem is not None:
            field, reason, message = problem
            bad.append(RecordError(i, sent, f"feedback[{i}].{field}", reason, message))
            continue
        good.append(inf.FeedbackIn(i, record_id, request_id, value, label, when))
    return good, bad


_BUCKETS: dict[int, inf.Bucket] = {
    rpc.GetProductionMetricsRequest.BUCKET_UNSPECIFIED: inf.Bucket.NONE,
    rpc.GetProductionMetricsRequest.BUCKET_HOUR: inf.Bucket.HOUR,
    rpc.GetProductionMetricsRequest.BUCKET_DAY: inf.Bucket.DAY,
}


def bucket(number: int) -> inf.Bucket:
    found = _BUCKETS.get(number)
    if found is None:
        raise InvalidArgument("bucket", "expected BUCKET_UNSPECIFIED, BUCKET_HOUR or BUCKET_DAY")
    return found


def fill_metrics_row(m: rpc.ProductionMetrics, row: inf.MetricsRow) -> rpc.ProductionMetrics:
    m.bucket_start.FromDatetime(row.bucket_start)
    m.version = row.version
    m.attribute_value = row.attribute_value
    m.count = row.count
    m.feedback_count = row.feedback_count
    m.feedback_coverage = row.feedback_coverage
    m.labeled_count = row.labeled_count
    m.valued_count = row.valued_count
    m.latency_count = row.latency_count
    m.traffic_percent = row.traffic_percent
    for name in (
        "accuracy",
        "mae",
        "rmse",
        "latency_p50_ms",
        "latency_p95_ms",
        "latency_p99_ms",
        "latency_mean_ms",
    ):
        value = getattr(row, name)
        if value is not None:
            setattr(m, name, value)
    return m


def _feedback_time(ts: Any) -> datetime | None:
    """A feedback time, or None when it cannot be stored and read back."""
    try:
        t: datetime = ts.ToDatetime(tzinfo=timezone.utc)
    except (ValueError, OverflowError):
        return None
    return t if storable(t) else None


def timestamp_or_none(has: bool, ts: Any, field: str) -> datetime | None:
    """A query's time bound, or None when unset; INVALID_ARGUMENT naming ``field``
    for a Timestamp outside its own range (nanos not in 0..999,999,999, seconds
    not in years 1 to 9999), which protobuf refuses to convert."""
    if not has:
        return None
    try:
        return ts.ToDatetime(tzinfo=timezone.utc)  # type: ignore[no-any-return]
    except (ValueError, OverflowError) as exc:
        raise InvalidArgument(field, f"not a valid timestamp: {exc}") from exc
