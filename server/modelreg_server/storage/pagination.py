"""Keyset pagination: the page token carries the sort key of the last row seen
and a fingerprint of the query it pages over (parent, filter, order, flags).

Tokens are opaque to clients and authenticated: an HMAC-SHA256 tag under a key
kept in the database (``server_secrets``, made by migration 0003) covers the
whole token, so every replica on one database accepts the tokens of every other,
and an edited token, or one built by hand, is refused before anything in it is
read. A genuine token of another listing is refused by its fingerprint."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
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
# Bytes of the HMAC-SHA256 tag kept in a token: 128 bits, far beyond guessing.
TAG_BYTES = 16
# A token this server makes is a few hundred characters; longer is not one of ours.
MAX_TOKEN_CHARS = 4096
_ALTERED = "not a page token this server issued, or altered; list again without one"
_FOREIGN = "page token belongs to another listing (parent, filter, order_by or show_deleted differ)"


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


class PageTokens:
    """Makes and checks page tokens under one key (the database's, see
    storage/server_secrets.py): ``base64url(tag || json)``, where the tag is the
    truncated HMAC-SHA256 of the JSON."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("a page token key needs at least 16 bytes")
        self._key = key

    def _tag(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:TAG_BYTES]

    def encode(self, query: str, key: Sequence[Any]) -> str:
        payload = json.dumps(
            {"q": query, "k": [_encode_value(v) for v in key]}, separators=(",", ":")
        ).encode()
        return base64.urlsafe_b64encode(self._tag(payload) + payload).decode().rstrip("=")

    def decode(self, token: str, query: str, width: int) -> list[Any]:
        """The sort key in ``token``, which must be genuine and of this ``query``."""
        raw = b""
        if len(token) <= MAX_TOKEN_CHARS and token.isascii():
            try:
                raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            except (binascii.Error, ValueError):
                raw = b""
        tag, payload = raw[:TAG_BYTES], raw[TAG_BYTES:]
        if len(tag) < TAG_BYTES or not hmac.compare_digest(tag, self._tag(payload)):
            raise InvalidArgument("page_token", _ALTERED)
        # Genuine from here on: what follows guards against a change of this code.
        try:
            data = json.loads(payload)
            key = [_decode_value(v) for v in data["k"]]
            same_query = data["q"] == query
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidArgument("page_token", _ALTERED) from exc
        if not same_query or len(key) != width:
            raise InvalidArgument("page_token", _FOREIGN)
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
    """The token's key, if its values have the columns' types. Only a token this
    server signed gets here, so this holds unless the columns of a listing change
    while its tokens are out: then the token is refused, never sent to SQL."""
    if not all(_fits(v, c) for v, c in zip(key, columns, strict=True)):
        raise InvalidArgument("page_token", "page token from an older listing; list again")
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


def page(
    rows: Sequence[Any], size: int, fp: str, key_names: Sequence[str], tokens: PageTokens
) -> Page[Any]:
    """The page of ``rows`` (up to ``size + 1`` of them), with a token after the last
    row kept if there were more. Rows are mappings that carry the sort keys."""
    if len(rows) > size:
        last = rows[size - 1]
        return Page(
            items=rows[:size], next_page_token=tokens.encode(fp, [last[k] for k in key_names])
        )
    return Page(items=rows)


async def fetch_page(
    conn: AsyncConnection,
    query: Select[Any],
    keys: Sequence[Any],
    desc: bool,
    q: ListQuery,
    tokens: PageTokens,
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
        key = check_key(tokens.decode(q.page_token, fp, len(keys)), keys)
        query = query.where(after(keys, key, desc))
    query = query.order_by(*(k.desc() if desc else k.asc() for k in keys)).limit(size + 1)
    rows = (await conn.execute(query)).mappings().all()
    return page(rows, size, fp, [k.name for k in keys], tokens)
