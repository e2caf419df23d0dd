"""Keyset pagination: the page token carries the sort key of the last row seen,
and a fingerprint of the query so a token cannot be replayed against another."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, RowMapping, Select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from modelreg_server.domain.errors import InvalidArgument
from modelreg_server.domain.types import ListQuery, Page

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def page_size(requested: int) -> int:
    if requested < 0:
        raise InvalidArgument("page_size", "must not be negative")
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def fingerprint(*parts: object) -> str:
    return hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).hexdigest()[:16]


def _encode_value(v: Any) -> Any:
    return {"t": v.isoformat()} if isinstance(v, datetime) else v


def _decode_value(v: Any) -> Any:
    return datetime.fromisoformat(v["t"]) if isinstance(v, dict) else v


def encode_token(query: str, key: Sequence[Any]) -> str:
    raw = json.dumps({"q": query, "k": [_encode_value(v) for v in key]}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_token(token: str, query: str, width: int) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        key = [_decode_value(v) for v in data["k"]]
        same_query = data["q"] == query
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidArgument("page_token", "malformed page token") from exc
    if not same_query or len(key) != width:
        raise InvalidArgument("page_token", "page token does not belong to this query")
    return key


def _fits(value: Any, column: Any) -> bool:
    """Whether a decoded token value can be compared with ``column`` in SQL."""
    kind = column.type.python_type
    if kind is int:
        return type(value) is int and -(2**63) <= value < 2**63
    if kind is datetime:
        return isinstance(value, datetime) and value.tzinfo is not None
    return type(value) is kind


def check_key(key: Sequence[Any], columns: Sequence[Any]) -> Sequence[Any]:
    """The token's key, if its values have the columns' types: tokens are opaque
    but not signed, so an edited one must be refused here, not by the database."""
    if not all(_fits(v, c) for v, c in zip(key, columns, strict=True)):
        raise InvalidArgument("page_token", "malformed page token")
    return key


def after(columns: Sequence[Any], key: Sequence[Any], descending: bool) -> ColumnElement[bool]:
    """Rows strictly after ``key`` in the (columns...) order."""
    left = tuple_(*columns)
    right = tuple_(*key)
    return left < right if descending else left > right


def parse_order_by(text: str, allowed: Sequence[str], default: str) -> tuple[str, bool]:
    """``"create_time desc"`` -> ("create_time", True); only allow-listed fields."""
    parts = text.split() if text.strip() else [default]
    if (
        len(parts) > 2
        or parts[0] not in allowed
        or (len(parts) == 2 and parts[1].lower() not in ("asc", "desc"))
    ):
        raise InvalidArgument(
            "order_by", f"expected one of {', '.join(allowed)}, optionally followed by asc/desc"
        )
    return parts[0], len(parts) == 2 and parts[1].lower() == "desc"


def page(rows: Sequence[Any], size: int, fp: str, key_names: Sequence[str]) -> Page[Any]:
    """The page of ``rows`` (up to ``size + 1`` of them), with a token after the last
    row kept if there were more. Rows are mappings that carry the sort keys."""
    if len(rows) > size:
        last = rows[size - 1]
        return Page(
            items=rows[:size], next_page_token=encode_token(fp, [last[k] for k in key_names])
        )
    return Page(items=rows)


async def fetch_page(
    conn: AsyncConnection,
    query: Select[Any],
    keys: Sequence[Any],
    desc: bool,
    q: ListQuery,
    *scope: object,
) -> Page[RowMapping]:
    """Run a keyset-paginated query: fetch ``limit + 1`` rows to know if more exist.

    ``keys`` are columns of ``query``'s result, the sort order with a unique last
    key. ``scope`` (parent names, flags) goes into the token's fingerprint with the
    filter and order, so a token only continues the listing it came from.
    """
    size = page_size(q.page_size)
    fp = fingerprint(q.filter, q.order_by, *scope)
    if q.page_token:
        key = check_key(decode_token(q.page_token, fp, len(keys)), keys)
        query = query.where(after(keys, key, desc))
    query = query.order_by(*(k.desc() if desc else k.asc() for k in keys)).limit(size + 1)
    rows = (await conn.execute(query)).mappings().all()
    return page(rows, size, fp, [k.name for k in keys])
