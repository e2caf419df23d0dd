"""The inference logger's encoder: buffered records straight to the protobuf wire format of
``WriteInferenceRecordsRequest``, with no message objects in between.

Why by hand: the logger's thread shares the GIL with serving code, so its CPU per record is
a cost serving pays. Building an ``InferenceRecord`` message per record (a map for its
attributes, a Timestamp) and serialising the batch costs several times what appending a few
byte strings does; the fields that are the same for every record of a logger (model,
version, deployment) are encoded once, attribute entries are cached (their values repeat),
and JSON goes through the C encoder without ``json.dumps``' per-call setup.

The field numbers and wire types below are those of resources.proto and
production_service.proto; tests/test_inference_wire.py parses what this writes with the
generated classes and compares, and checks the numbers against the descriptors.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

_NS = 1_000_000_000
_pack_double = struct.Struct("<d").pack
# Tags: (field number << 3) | wire type (0 varint, 1 64-bit, 2 length-delimited).
_RECORD_ID = b"\x0a"  # 1, string
_MODEL = b"\x12"  # 2, string
_VERSION = b"\x18"  # 3, int64
_DEPLOYMENT = b"\x22"  # 4, string
_EVENT_TIME = b"\x2a"  # 5, Timestamp: seconds (1, varint), nanos (2, varint)
_REQUEST_ID = b"\x32"  # 6, string
_INPUTS = b"\x3a"  # 7, bytes
_OUTPUTS = b"\x42"  # 8, bytes
_PREDICTED_VALUE = b"\x49"  # 9, double (oneof prediction)
_PREDICTED_LABEL = b"\x52"  # 10, string (oneof prediction)
_LATENCY_MS = b"\x59"  # 11, optional double
_ATTRIBUTES = b"\x62"  # 12, map<string, string>: key (1), value (2)
# WriteInferenceRecordsRequest: parent (1), writer_id (2), batch_seq (3), records (4).
_PARENT = b"\x0a"
_WRITER_ID = b"\x12"
_BATCH_SEQ = b"\x18"
_RECORDS = b"\x22"

# Every varint of one or two bytes (lengths, mostly), made once.
_VARINT_2 = [bytes([n]) for n in range(0x80)] + [
    bytes((n & 0x7F | 0x80, n >> 7)) for n in range(0x80, 0x4000)
]
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ATTRIBUTE_CACHE_MAX = 4096


def varint(n: int) -> bytes:
    """An integer as a protobuf varint (a negative int64 takes ten bytes); branches by
    size rather than looping, as this runs a few times per record."""
    if 0 <= n < 0x4000:
        return _VARINT_2[n]
    if 0 <= n < 0x800000000:
        if n < 0x200000:
            return bytes((n & 0x7F | 0x80, n >> 7 & 0x7F | 0x80, n >> 14))
        if n < 0x10000000:
            return bytes((n & 0x7F | 0x80, n >> 7 & 0x7F | 0x80, n >> 14 & 0x7F | 0x80, n >> 21))
        return bytes(
            (
                n & 0x7F | 0x80,
                n >> 7 & 0x7F | 0x80,
                n >> 14 & 0x7F | 0x80,
                n >> 21 & 0x7F | 0x80,
                n >> 28,
            )
        )
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(tag: bytes, data: bytes) -> bytes:
    return tag + varint(len(data)) + data


class InvalidRecord(Exception):
    """A logged record that cannot be encoded; counted as invalid, never raised to log()."""


def _json_encoder() -> Any:
    """The C encoder json.dumps uses, made once (compact, UTF-8, NaN refused), or
    ``json.dumps``' equivalent where the C one is missing or behaves otherwise."""
    plain = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return plain
    try:
        c_encode = make(
            None, _not_json, json.encoder.encode_basestring, None, ":", ",", False, False, False
        )

        def encode(value: Any) -> str:
            return "".join(c_encode(value, 0))

        if encode({"a": [1.5, "é", None, True]}) != '{"a":[1.5,"é",null,true]}':
            return plain
        try:
            encode(float("nan"))
        except ValueError:
            return encode
        return plain
    except TypeError:
        return plain


def _not_json(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


_to_json = _json_encoder()


def json_bytes(value: Any, what: str) -> bytes:
    """``value`` as JSON bytes; ``bytes`` are taken as JSON already; None is empty."""
    if value is None:
        return b""
    if isinstance(value, bytes):
        return value
    try:
        return _to_json(value).encode()  # type: ignore[no-any-return]
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidRecord(f"{what}: not JSON-serialisable ({exc})") from None


class RecordEncoder:
    """Encodes one logger's records (fixed model, version, deployment)."""

    def __init__(self, model: str, version: int, deployment: str) -> None:
        head = _field(_MODEL, model.encode()) + _VERSION + varint(version)
        if deployment:
            head += _field(_DEPLOYMENT, deployment.encode())
        self._head = head
        self._attributes: dict[tuple[str, str], bytes] = {}
        self._seconds = -1
        self._seconds_field = b""

    def _time(self, when: int | datetime) -> bytes:
        if isinstance(when, int):
            seconds, nanos = divmod(when, _NS)
        elif isinstance(when, datetime) and when.tzinfo is not None:
            delta = when - _EPOCH
            seconds = delta.days * 86_400 + delta.seconds
            nanos = delta.microseconds * 1_000
        else:
            raise InvalidRecord(f"event_time: expected a timezone-aware datetime, got {when!r}")
        if seconds != self._seconds:
            self._seconds = seconds
            self._seconds_field = b"\x08" + varint(seconds) if seconds else b""
        body = self._seconds_field + (b"\x10" + varint(nanos) if nanos else b"")
        return _EVENT_TIME + varint(len(body)) + body

    def _attribute(self, key: Any, value: Any) -> bytes:
        entry = self._attributes.get((key, value))
        if entry is None:
            if type(key) is not str or type(value) is not str:
                key, value = str(key), str(value)
            body = _field(b"\x0a", key.encode()) + _field(b"\x12", value.encode())
            entry = _ATTRIBUTES + varint(len(body)) + body
            if len(self._attributes) >= _ATTRIBUTE_CACHE_MAX:
                self._attributes.clear()
            self._attributes[(key, value)] = entry
        return entry

    def encode(
        self,
        record_id: str,
        when: int | datetime,
        inputs: Any,
        outputs: Any,
        prediction: Any,
        latency_ms: Any,
        request_id: Any,
        attributes: Any,
    ) -> bytes:
        """One ``InferenceRecord``, as the element of a request's ``records`` (tag and
        length included). Raises InvalidRecord for arguments that cannot be encoded."""
        rid = record_id.encode()
        parts = [_RECORD_ID, varint(len(rid)), rid, self._head, self._time(when)]
        if request_id:
            if type(request_id) is not str:
                raise InvalidRecord(f"request_id: expected a str, got {type(request_id)}")
            data = request_id.encode()
            parts += (_REQUEST_ID, varint(len(data)), data)
        if inputs is not None:
            data = json_bytes(inputs, "inputs")
            parts += (_INPUTS, varint(len(data)), data)
        if outputs is not None:
            data = json_bytes(outputs, "outputs")
            parts += (_OUTPUTS, varint(len(data)), data)
        if prediction is not None:
            kind = type(prediction)
            if kind is str:
                data = prediction.encode()
                parts += (_PREDICTED_LABEL, varint(len(data)), data)
            elif kind is bool:
                parts.append(_field(_PREDICTED_LABEL, b"true" if prediction else b"false"))
            elif kind is float or kind is int or isinstance(prediction, int | float):
                parts += (_PREDICTED_VALUE, _pack_double(float(prediction)))
            else:
                raise InvalidRecord(f"prediction: expected a str or a number, got {kind}")
        if latency_ms is not None:
            try:
                parts += (_LATENCY_MS, _pack_double(float(latency_ms)))
            except (TypeError, ValueError):
                raise InvalidRecord(f"latency_ms: expected a number, got {latency_ms!r}") from None
        if attributes:
            if not isinstance(attributes, Mapping):
                raise InvalidRecord(f"attributes: expected a mapping, got {type(attributes)}")
            attribute = self._attribute
            parts += [attribute(k, v) for k, v in attributes.items()]
        body = b"".join(parts)
        return _RECORDS + varint(len(body)) + body


def request(parent: str, writer_id: str, batch_seq: int, records: list[bytes]) -> bytes:
    """A ``WriteInferenceRecordsRequest``: the header, then the encoded records."""
    head = _field(_PARENT, parent.encode()) + _field(_WRITER_ID, writer_id.encode())
    return head + _BATCH_SEQ + varint(batch_seq) + b"".join(records)
