"""Input validation. Every check names the field it rejects, in the API's own
field paths (``model_version.params["lr"]``), so a client can point at it."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from modelreg_server.domain.errors import InvalidArgument

# The patterns of names are the domain's (domain/names.py); re-exported for callers here.
from modelreg_server.domain.names import DATASET_VERSION_RE as DATASET_VERSION_RE
from modelreg_server.domain.names import MAX_VERSION_DIGITS as MAX_VERSION_DIGITS
from modelreg_server.domain.names import NAME_RE as NAME_RE
from modelreg_server.domain.names import VERSION_RE as VERSION_RE
from modelreg_server.domain.types import DataRef, NewModelVersion, ParamValue
from modelreg_server.limits import CEILINGS, FieldLimits, setting

LABEL_KEY_RE = re.compile(r"^[a-z][a-z0-9_.\-/]{0,62}$")
PARAM_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-/]{0,127}$")
# A metric key's characters; its length is a setting (FieldLimits.max_metric_key_chars).
METRIC_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-/]*")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9_.:\-]{1,128}$")
RESERVED_ALIASES = frozenset({"latest"})
# What reads accept of a metric key: the longest any server may store.
_READ_LIMITS = FieldLimits(max_metric_key_chars=CEILINGS["max_metric_key_chars"])

MAX_DESCRIPTION = 10_000
MAX_DATA_REFS = 1_000
MAX_TEXT = 256
MAX_URI = 2_048
MAX_REASON = 1_000
MAX_JSON_BYTES = 65_536
MAX_JSON_DEPTH = 32
INT64 = (-(2**63), 2**63 - 1)


def shown(value: str, limit: int = 80) -> str:
    """``value`` quoted for an error message, cut short: error details travel in
    gRPC trailers, which have a size limit, so a huge bad input must not be echoed."""
    return repr(value if len(value) <= limit else value[:limit] + "...")


def name(value: str, field: str, what: str = "name") -> str:
    if not NAME_RE.fullmatch(value):
        raise InvalidArgument(
            field,
            f"invalid {what} {shown(value)}: use 1-63 characters of a-z, 0-9, '_' or '-', "
            "starting with a letter",
        )
    return value


def version_selector(value: str, field: str) -> str:
    """A version number (1 .. 2**63-1, ASCII digits) or an alias name (or ``latest``)."""
    if VERSION_RE.fullmatch(value):
        digits = value.lstrip("0")
        if len(digits) > MAX_VERSION_DIGITS or not 1 <= int(digits or "0") <= INT64[1]:
            raise InvalidArgument(field, f"version number {shown(value)} is out of range")
        return value
    return name(value, field, "version or alias")


def alias(value: str, field: str) -> str:
    name(value, field, "alias")
    if value in RESERVED_ALIASES:
        raise InvalidArgument(field, f"{value!r} is reserved: it always means the newest version")
    return value


def text(value: str, field: str, limit: int = MAX_TEXT) -> str:
    if len(value) > limit:
        raise InvalidArgument(field, f"longer than {limit} characters")
    if "\x00" in value:
        raise InvalidArgument(field, "contains a NUL character")
    return value


def request_id(value: str) -> str | None:
    if not value:
        return None
    if not REQUEST_ID_RE.fullmatch(value):
        raise InvalidArgument("request_id", "use 1-128 characters of A-Z, a-z, 0-9, '_.:-'")
    return value


def over(limits: FieldLimits, name: str) -> str:
    """The limit ``name`` of ``limits`` as an error message puts it, with its setting."""
    return f"{getattr(limits, name)} ({setting(name)})"


def labels(values: Mapping[str, str], field: str, limits: FieldLimits) -> Mapping[str, str]:
    if len(values) > limits.max_labels:
        raise InvalidArgument(field, f"more than {over(limits, 'max_labels')} labels")
    max_value = limits.max_label_value_chars
    for key, value in values.items():
        if not LABEL_KEY_RE.fullmatch(key):
            raise InvalidArgument(
                f"{field}[{shown(key)}]",
                "label keys are 1-63 characters of a-z, 0-9, '_.-/', starting with a letter",
            )
        if len(value) > max_value:
            raise InvalidArgument(
                f"{field}[{shown(key)}]",
                f"longer than {over(limits, 'max_label_value_chars')} characters",
            )
        text(value, f"{field}[{shown(key)}]", max_value)
    return values


# PostgreSQL's btree holds index entries up to about 2,700 bytes; string params
# are indexed with their key (filters and ranking), so their values stay below it
# whatever MODELREG_MAX_PARAM_VALUE_CHARS says.
MAX_PARAM_VALUE_BYTES = 2_400


def params(values: Mapping[str, ParamValue], field: str, limits: FieldLimits) -> None:
    if len(values) > limits.max_params:
        raise InvalidArgument(field, f"more than {over(limits, 'max_params')} params")
    max_string = limits.max_param_value_chars
    for key, value in values.items():
        where = f"{field}[{shown(key)}]"
        if not PARAM_KEY_RE.fullmatch(key):
            raise InvalidArgument(
                where, "param keys are 1-128 characters of A-Z, a-z, 0-9, '_.-/', no leading digit"
            )
        if isinstance(value, bool):
            continue
        if isinstance(value, int):
            if not INT64[0] <= value <= INT64[1]:
                raise InvalidArgument(where, "integer out of the 64-bit range")
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise InvalidArgument(where, "must be a finite number")
        elif isinstance(value, str):
            if len(value) > max_string:
                raise InvalidArgument(
                    where, f"longer than {over(limits, 'max_param_value_chars')} characters"
                )
            text(value, where, max_string)
            if (
                len(value) * 4 > MAX_PARAM_VALUE_BYTES
                and (size := len(value.encode("utf-8", "surrogatepass"))) > MAX_PARAM_VALUE_BYTES
            ):
                raise InvalidArgument(
                    where,
                    f"{size} bytes in UTF-8: string params are indexed, at most "
                    f"{MAX_PARAM_VALUE_BYTES} bytes",
                )
        else:
            raise InvalidArgument(where, f"unsupported type {type(value).__name__}")


def metric_key(key: str, field: str, limits: FieldLimits) -> None:
    if len(key) > limits.max_metric_key_chars:
        raise InvalidArgument(
            field,
            f"metric key {shown(key)} is longer than "
            f"{over(limits, 'max_metric_key_chars')} characters",
        )
    if not METRIC_KEY_RE.fullmatch(key):
        raise InvalidArgument(
            field,
            f"invalid metric key {shown(key)}: characters of A-Z, a-z, 0-9, '_.-/', "
            "not starting with a digit or one of '.-/'",
        )


def stored_metric_key(key: str, field: str) -> None:
    """A metric key a read may name: anything a write could have stored under the
    highest limit allowed, so lowering the limit keeps older metrics readable."""
    metric_key(key, field, _READ_LIMITS)


def canonical_json(raw: bytes, field: str) -> str:
    """The canonical text of a JSON object sent as bytes ("" for none): keys sorted,
    compact separators, UTF-8. It is what gets stored and returned, byte for byte."""
    if not raw:
        return ""
    if len(raw) > MAX_JSON_BYTES:
        raise InvalidArgument(field, f"larger than {MAX_JSON_BYTES} bytes")
    try:
        value = json.loads(raw)
    # ValueError: malformed JSON, bad UTF-8, or an integer over Python's digit limit.
    except (ValueError, RecursionError) as exc:
        raise InvalidArgument(field, f"not valid JSON: {shown(str(exc))}") from exc
    if not isinstance(value, dict):
        raise InvalidArgument(field, "must be a JSON object")
    _check_json_values(value, field)
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate escape such as "\ud800"
        raise InvalidArgument(field, "strings must be valid Unicode (no lone surrogates)") from exc
    return text


def _check_json_values(value: dict[str, Any], field: str) -> None:
    # depth: how many objects/arrays enclose the node (the top object is level 1).
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list) and depth > MAX_JSON_DEPTH:
            raise InvalidArgument(field, f"nested deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
            stack.extend((k, depth) for k in node)
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
        # PostgreSQL's JSON has neither NaN/Infinity nor the NUL character.
        elif isinstance(node, float) and not math.isfinite(node):
            raise InvalidArgument(field, "numbers must be finite (no NaN, Infinity, 1e999)")
        elif isinstance(node, str) and "\x00" in node:
            raise InvalidArgument(field, "strings must not contain NUL (\\u0000)")


def dataset_version_id(value: str, field: str) -> str:
    if not DATASET_VERSION_RE.fullmatch(value):
        raise InvalidArgument(
            field,
            f"dataset version id {shown(value)} must match {DATASET_VERSION_RE.pattern[1:-1]}",
        )
    return value


def data_refs(values: Sequence[DataRef], field: str) -> None:
    """References to dataset versions: each names one, by (project, dataset, version)."""
    if len(values) > MAX_DATA_REFS:
        raise InvalidArgument(field, f"more than {MAX_DATA_REFS} data references")
    for i, ref in enumerate(values):
        where = f"{field}[{i}]"
        if not ref.dataset or not ref.version:
            raise InvalidArgument(
                where, "name a dataset version: dataset_version, or dataset and version"
            )
        if ref.project:
            name(ref.project, f"{where}.dataset_version", "project")
        name(ref.dataset, f"{where}.dataset", "dataset")
        dataset_version_id(ref.version, f"{where}.version")


def new_version(spec: NewModelVersion, limits: FieldLimits, field: str = "model_version") -> None:
    a = spec.artifact
    if not a.uri:
        raise InvalidArgument(f"{field}.artifact.uri", "required")
    text(a.uri, f"{field}.artifact.uri", MAX_URI)
    if a.sha256 and not SHA256_RE.fullmatch(a.sha256):
        raise InvalidArgument(f"{field}.artifact.sha256", "must be 64 lower-case hex digits")
    if a.size_bytes < 0:
        raise InvalidArgument(f"{field}.artifact.size_bytes", "must not be negative")
    text(a.format, f"{field}.artifact.format")
    text(spec.architecture.name, f"{field}.architecture.name")
    params(spec.params, f"{field}.params", limits)
    data_refs(spec.training_data, f"{field}.training_data")
    text(spec.source_run, f"{field}.source_run")
    text(spec.code_version.repo, f"{field}.code_version.repo", MAX_URI)
    text(spec.code_version.commit, f"{field}.code_version.commit")
    labels(spec.labels, f"{field}.labels", limits)
    text(spec.description, f"{field}.description", MAX_DESCRIPTION)
