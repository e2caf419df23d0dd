"""The inference logger's hand-written encoder writes what the generated classes would:
each encoded batch parses into the message built field by field with the generated code,
for every kind of value, and the tags it uses are the descriptors' field numbers."""

from __future__ import annotations

import json
import math
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from google.protobuf.descriptor import FieldDescriptor

from modelreg import _inference_wire as wire
from modelreg.api.v1 import production_service_pb2 as prod
from modelreg.api.v1 import resources_pb2 as pb

WIRE_TYPES = {
    FieldDescriptor.TYPE_STRING: 2,
    FieldDescriptor.TYPE_BYTES: 2,
    FieldDescriptor.TYPE_MESSAGE: 2,
    FieldDescriptor.TYPE_INT64: 0,
    FieldDescriptor.TYPE_DOUBLE: 1,
}


def test_the_tags_are_the_descriptors_field_numbers_and_wire_types() -> None:
    messages = {
        "record": pb.InferenceRecord.DESCRIPTOR.fields_by_name,
        "request": prod.WriteInferenceRecordsRequest.DESCRIPTOR.fields_by_name,
    }
    record, request = "record", "request"
    tags = {
        (record, "record_id"): wire._RECORD_ID,
        (record, "model"): wire._MODEL,
        (record, "version"): wire._VERSION,
        (record, "deployment"): wire._DEPLOYMENT,
        (record, "event_time"): wire._EVENT_TIME,
        (record, "request_id"): wire._REQUEST_ID,
        (record, "inputs"): wire._INPUTS,
        (record, "outputs"): wire._OUTPUTS,
        (record, "predicted_value"): wire._PREDICTED_VALUE,
        (record, "predicted_label"): wire._PREDICTED_LABEL,
        (record, "latency_ms"): wire._LATENCY_MS,
        (record, "attributes"): wire._ATTRIBUTES,
        (request, "parent"): wire._PARENT,
        (request, "writer_id"): wire._WRITER_ID,
        (request, "batch_seq"): wire._BATCH_SEQ,
        (request, "records"): wire._RECORDS,
    }
    for (message, name), tag in tags.items():
        f = messages[message][name]
        wire_type = 2 if f.message_type is not None else WIRE_TYPES[f.type]
        assert tag == bytes([f.number << 3 | wire_type]), name
    # Every field the logger may write has its tag; only output-only ones are left out.
    written = {n for (m, n) in tags if m == "record"}
    assert written == set(messages["record"]) - {"feedback", "ingest_time"}


def expected(model: str, version: int, deployment: str, raw: tuple[Any, ...]) -> Any:
    rid, when, inputs, outputs, prediction, latency, request_id, attributes = raw
    msg = pb.InferenceRecord(record_id=rid, model=model, version=version, deployment=deployment)
    if isinstance(when, int):
        msg.event_time.FromNanoseconds(when)
    else:
        msg.event_time.FromDatetime(when)
    if request_id:
        msg.request_id = request_id
    for field, value in (("inputs", inputs), ("outputs", outputs)):
        if value is not None:
            data = value if isinstance(value, bytes) else json.dumps(value, ensure_ascii=False)
            setattr(msg, field, data if isinstance(data, bytes) else data.encode())
    if isinstance(prediction, bool):
        msg.predicted_label = "true" if prediction else "false"
    elif isinstance(prediction, str):
        msg.predicted_label = prediction
    elif prediction is not None:
        msg.predicted_value = float(prediction)
    if latency is not None:
        msg.latency_ms = float(latency)
    for k, v in (attributes or {}).items():
        msg.attributes[str(k)] = str(v)
    return msg


NOW_NS = 1_764_000_000_123_456_789
RAWS: list[tuple[Any, ...]] = [
    (str(uuid.uuid4()), NOW_NS, None, None, None, None, None, None),
    (str(uuid.uuid4()), NOW_NS + 1, {"text": "안녕", "n": [1, 2.5, None, True]}, {"o": "x"},
     "positive", 12.5, "req-1", {"country": "kr", "device": "mobile"}),
    (str(uuid.uuid4()), NOW_NS, b'{"raw":1}', "just text", 0.0, 0.0, "r", {}),
    (str(uuid.uuid4()), NOW_NS, [], {}, "", -3.25, "", {"k": ""}),
    (str(uuid.uuid4()), NOW_NS, 1, 2, True, 1, "x" * 300, {"big": "v" * 300}),
    (str(uuid.uuid4()), NOW_NS, None, None, 7, None, None, {"n": 3}),
    (str(uuid.uuid4()), NOW_NS - NOW_NS % 1_000_000_000, None, None, -1e300, None, None, None),
    (str(uuid.uuid4()), datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc),
     None, None, False, None, None, None),
    (str(uuid.uuid4()), datetime(2026, 1, 2, tzinfo=timezone(timedelta(hours=9))),
     None, None, math.pi, 1e-9, None, None),
    (str(uuid.uuid4()), 0, None, None, None, None, None, None),
]  # fmt: skip


@pytest.mark.parametrize("deployment", ["", "prod"])
def test_an_encoded_batch_parses_into_the_same_messages(deployment: str) -> None:
    encoder = wire.RecordEncoder("m_1", 123456789, deployment)
    encoded = [encoder.encode(*raw) for raw in RAWS]
    # Attribute entries come from the cache the second time: the same bytes.
    assert [encoder.encode(*raw) for raw in RAWS] == encoded
    payload = wire.request("projects/p", "w" * 32, 2**40, encoded)
    parsed = prod.WriteInferenceRecordsRequest.FromString(payload)
    assert (parsed.parent, parsed.writer_id, parsed.batch_seq) == ("projects/p", "w" * 32, 2**40)
    assert len(parsed.records) == len(RAWS)
    for got, raw in zip(parsed.records, RAWS, strict=True):
        want = expected("m_1", 123456789, deployment, raw)
        # JSON is compared as documents (the encoder is compact, json.dumps is not).
        for doc in ("inputs", "outputs"):
            if getattr(want, doc) and not isinstance(raw[2 if doc == "inputs" else 3], bytes):
                assert json.loads(getattr(got, doc)) == json.loads(getattr(want, doc))
                got.ClearField(doc)
                want.ClearField(doc)
        assert got == want, raw
        # Presence as the generated code has it: a 0.0 prediction or latency is set.
        assert got.WhichOneof("prediction") == want.WhichOneof("prediction")
        assert got.HasField("latency_ms") == want.HasField("latency_ms")


@pytest.mark.parametrize(
    ("raw", "what"),
    [
        (("id", NOW_NS, {"x": object()}, None, None, None, None, None), "inputs"),
        (("id", NOW_NS, None, {"x": float("nan")}, None, None, None, None), "outputs"),
        (("id", NOW_NS, None, {"x": float("inf")}, None, None, None, None), "outputs"),
        (("id", NOW_NS, None, None, [1], None, None, None), "prediction"),
        (("id", NOW_NS, None, None, None, "fast", None, None), "latency_ms"),
        (("id", NOW_NS, None, None, None, None, 17, None), "request_id"),
        (("id", NOW_NS, None, None, None, None, None, ["a"]), "attributes"),
        (("id", datetime(2026, 1, 1), None, None, None, None, None, None), "event_time"),
        (("id", "yesterday", None, None, None, None, None, None), "event_time"),
    ],
)
def test_arguments_that_cannot_be_encoded_raise_invalid_record(
    raw: tuple[Any, ...], what: str
) -> None:
    with pytest.raises(wire.InvalidRecord, match=what):
        wire.RecordEncoder("m", 1, "").encode(*raw)


def test_a_circular_document_is_invalid_not_a_crash() -> None:
    doc: dict[str, Any] = {}
    doc["self"] = doc
    with pytest.raises(wire.InvalidRecord, match="inputs"):
        wire.RecordEncoder("m", 1, "").encode("id", NOW_NS, doc, None, None, None, None, None)


def test_varints() -> None:
    for n in [1, 127, 128, 300, 2**31, 2**63 - 1, -1, -(2**63)]:
        msg = pb.InferenceRecord(version=n)
        assert msg.SerializeToString() == wire._VERSION + wire.varint(n), n
