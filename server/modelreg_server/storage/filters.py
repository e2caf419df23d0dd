"""The `filter` grammar of List calls, compiled to SQLAlchemy expressions.

    filter     := comparison ( "AND" comparison )*
    comparison := FIELD OP VALUE
    OP         := "=" | "!=" | "<" | "<=" | ">" | ">="
    VALUE      := NUMBER | "string" | true | false

FIELD must be in the resource's allow-list; a field ending in ``.`` in the list
(``params.``, ``labels.``) accepts any key after the dot. Values are always bound
parameters: no user text ever becomes SQL.
"""

from __future__ import annotations

import json
import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, or_, true

from modelreg_server.domain.errors import InvalidArgument

Value = bool | int | float | str
OPS: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>"(?:[^"\\]|\\.)*")
      | (?P<op>!=|<=|>=|=|<|>)
      | (?P<num>-?[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?)
      | (?P<word>[A-Za-z_][A-Za-z0-9_.\-/]*)
    )""",
    re.VERBOSE,
)
MAX_FILTER_LENGTH = 2000
INT64 = (-(2**63), 2**63 - 1)


@dataclass(frozen=True)
class Comparison:
    field: str
    op: str
    value: Value


def parse(text: str, field_name: str = "filter") -> list[Comparison]:
    if len(text) > MAX_FILTER_LENGTH:
        raise InvalidArgument(field_name, f"longer than {MAX_FILTER_LENGTH} characters")
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise InvalidArgument(
                field_name, f"unexpected character at offset {pos}: {text[pos : pos + 10]!r}"
            )
        kind = m.lastgroup
        assert kind is not None
        tokens.append((kind, m.group(kind)))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    comparisons: list[Comparison] = []
    i = 0
    while i < len(tokens):
        if comparisons:
            if tokens[i] != ("word", "AND"):
                raise InvalidArgument(field_name, f"expected AND, got {_shown(tokens[i][1])}")
            i += 1
        if i + 3 > len(tokens):
            raise InvalidArgument(field_name, "expected `field op value`")
        (fk, fv), (ok, ov), (vk, vv) = tokens[i : i + 3]
        if fk != "word" or fv in ("AND", "true", "false"):
            raise InvalidArgument(field_name, f"expected a field name, got {_shown(fv)}")
        if ok != "op":
            raise InvalidArgument(
                field_name, f"expected an operator after {_shown(fv)}, got {_shown(ov)}"
            )
        comparisons.append(Comparison(fv, ov, _value(vk, vv, field_name)))
        i += 3
    return comparisons


def _value(kind: str, raw: str, field_name: str) -> Value:
    if kind == "str":
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise InvalidArgument(field_name, f"bad string literal {_shown(raw)}") from exc
        assert isinstance(value, str)
        if "\x00" in value:
            raise InvalidArgument(field_name, "string literals must not contain NUL (\\u0000)")
        if not _is_unicode(value):  # "\ud800": the database's text is UTF-8
            raise InvalidArgument(
                field_name, "string literals must be valid Unicode (no lone surrogates)"
            )
        return value
    if kind == "num":
        if any(c in raw for c in ".eE"):
            real = float(raw)
            if not math.isfinite(real):
                raise InvalidArgument(field_name, f"number {raw[:40]} out of range")
            return real
        # Over 19 digits is out of range without asking int() (which refuses 4,300).
        too_long = len(raw.lstrip("-").lstrip("0")) > 19
        if too_long or not INT64[0] <= int(raw) <= INT64[1]:
            raise InvalidArgument(field_name, f"integer {raw[:40]} out of the 64-bit range")
        return int(raw)
    if kind == "word" and raw in ("true", "false"):
        return raw == "true"
    raise InvalidArgument(field_name, f"expected a value, got {_shown(raw)}")


def cut(text: str, limit: int = 40) -> str:
    """``text`` for an error message, cut short: the message travels in trailers
    (and logs), so a long input is named, not echoed back whole."""
    return text if len(text) <= limit else text[:limit] + "..."


def _shown(value: Value) -> str:
    return repr(cut(value if isinstance(value, str) else str(value)))


def _is_unicode(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# A field compiler turns (key-after-prefix, op, value) into a WHERE clause.
FieldCompiler = Callable[[str, str, Value], ColumnElement[bool]]


def column(col: Any, kind: str) -> FieldCompiler:
    """A compiler for a plain column of kind int, str, time or bool."""

    def compile_(key: str, op: str, value: Value) -> ColumnElement[bool]:
        return OPS[op](col, coerce(value, kind, key))  # type: ignore[no-any-return]

    return compile_


def coerce(value: Value, kind: str, name: str) -> Any:
    if kind == "int" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind == "str" and isinstance(value, str):
        return value
    if kind == "bool" and isinstance(value, bool):
        return value
    if kind == "time" and isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise InvalidArgument(
                "filter", f"{cut(name)}: not an RFC 3339 time: {_shown(value)}"
            ) from exc
        if parsed.tzinfo is None:
            raise InvalidArgument(
                "filter", f"{cut(name)}: time needs a zone offset or Z: {_shown(value)}"
            )
        try:
            # "0001-01-01T00:00:00+14:00" is a time before year 1 in UTC.
            return parsed.astimezone(timezone.utc)
        except OverflowError as exc:
            raise InvalidArgument(
                "filter", f"{cut(name)}: time out of range: {_shown(value)}"
            ) from exc
    raise InvalidArgument("filter", f"{cut(name)}: expected a {kind} value, got {_shown(value)}")


def compile_filter(text: str, fields: Mapping[str, FieldCompiler]) -> ColumnElement[bool]:
    clauses: list[ColumnElement[bool]] = []
    for c in parse(text):
        compiler, key = _lookup(c.field, fields)
        clauses.append(compiler(key, c.op, c.value))
    return and_(true(), *clauses)


def _lookup(name: str, fields: Mapping[str, FieldCompiler]) -> tuple[FieldCompiler, str]:
    if name in fields and not name.endswith("."):
        return fields[name], name
    prefix, dot, key = name.partition(".")
    if dot and key and f"{prefix}." in fields:
        return fields[f"{prefix}."], key
    allowed = ", ".join(sorted(f + "<key>" if f.endswith(".") else f for f in fields))
    raise InvalidArgument("filter", f"unknown field {_shown(name)}; allowed: {allowed}")


def json_labels(col: Any) -> FieldCompiler:
    """A compiler for ``labels.<key>`` over a jsonb column of string labels. As on
    versions' label rows, ``!=`` also matches a row without the label."""

    def compile_(key: str, op: str, value: Value) -> ColumnElement[bool]:
        label = col[key].astext
        clause: ColumnElement[bool] = OPS[op](label, coerce(value, "str", f"labels.{key}"))
        return or_(label.is_(None), clause) if op == "!=" else clause

    return compile_


def typed_params(owner: Any, parent_id: Any) -> FieldCompiler:
    """A compiler for ``params.<key>`` over typed param rows (key, kind, num_value,
    text_value) whose ``owner`` column is ``parent_id``: EXISTS on the (key, value)
    indexes. A number compares int and float params, a string string params,
    true/false bool params; ``!=`` also matches a parent without the key."""
    rows = owner.table

    def compile_(key: str, op: str, value: Value) -> ColumnElement[bool]:
        cmp = OPS["=" if op == "!=" else op]
        if isinstance(value, bool):
            cond = (rows.c.kind == "bool") & cmp(rows.c.num_value, float(value))
        elif isinstance(value, int | float):
            if not math.isfinite(value):
                raise InvalidArgument("filter", f"params.{cut(key)}: value must be finite")
            cond = ((rows.c.kind == "int") | (rows.c.kind == "float")) & cmp(
                rows.c.num_value, value
            )
        else:
            cond = (rows.c.kind == "str") & cmp(rows.c.text_value, value)
        clause = exists().where(owner == parent_id, rows.c.key == key, cond)
        return ~clause if op == "!=" else clause

    return compile_


def label_rows(owner: Any, parent_id: Any) -> FieldCompiler:
    """A compiler for ``labels.<key>`` over label rows (key, value) whose ``owner``
    column is ``parent_id``; ``!=`` also matches a parent without the label."""
    rows = owner.table

    def compile_(key: str, op: str, value: Value) -> ColumnElement[bool]:
        text_value = coerce(value, "str", f"labels.{key}")
        clause = exists().where(
            owner == parent_id,
            rows.c.key == key,
            OPS["=" if op == "!=" else op](rows.c.value, text_value),
        )
        return ~clause if op == "!=" else clause

    return compile_
