"""Idempotency keys and the responses they replay (the storage half of
service/idempotency.py).

A response is a record (or None), stored as ``{"fields": {...}, "times": [...]}``:
the record's values as JSON, and which of them are times, which JSON has no type
for. Registration writes the same shape from SQL (register.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, DateTime, Select, select
from sqlalchemy.dialects.postgresql import insert

from modelreg_server.storage.store import Conn
from modelreg_server.storage.tables import request_log

KEY_CONSTRAINT = "pk_request_log"
# A key recorded before responses were kept (schema 0001): nothing to replay.
NO_RESPONSE = object()


@dataclass(frozen=True)
class Key:
    """One call's claim on a request_id."""

    method: str
    scope: str  # the resource the call addresses
    request_id: str
    payload_hash: str


@dataclass(frozen=True)
class Prior:
    """What the first call with a request_id left: its payload hash and response."""

    payload_hash: str
    response: Any  # the decoded response, None, or NO_RESPONSE


def time_keys(statement: Select[Any]) -> list[str]:
    """The columns of a record statement that hold times."""
    return [str(c.key) for c in statement.selected_columns if isinstance(c.type, DateTime)]


def encode(record: Mapping[str, Any] | None) -> Any:
    """A response as stored: JSON-ready, with its times named."""
    if record is None:
        return None
    fields = dict(record)
    times = [k for k, v in fields.items() if isinstance(v, datetime)]
    for k in times:
        fields[k] = fields[k].isoformat()
    return {"fields": fields, "times": times}


def decode(stored: Any) -> Any:
    if stored is None:
        return None
    fields = dict(stored["fields"])
    for k in stored["times"]:
        fields[k] = datetime.fromisoformat(fields[k])
    return fields


def _is(key: Key) -> ColumnElement[bool]:
    return (
        (request_log.c.method == key.method)
        & (request_log.c.scope == key.scope)
        & (request_log.c.request_id == key.request_id)
    )


async def claim(conn: Conn, key: Key) -> Prior | None:
    """Claim ``key.request_id`` for this transaction.

    Returns None when the id is new (the caller does the work, then ``record``s its
    response, and the claim commits with it), or what the first call left. A
    concurrent claim of the same id waits for the first transaction to end.
    """
    inserted = await conn.execute(
        insert(request_log)
        .values(
            method=key.method,
            scope=key.scope,
            request_id=key.request_id,
            payload_hash=key.payload_hash,
        )
        .on_conflict_do_nothing()
        .returning(request_log.c.request_id)
    )
    if inserted.first() is not None:
        return None
    return await lookup(conn, key)


async def lookup(conn: Conn, key: Key) -> Prior:
    """What the first call with ``key``'s request_id left (it must exist)."""
    row = (
        await conn.execute(
            select(
                request_log.c.payload_hash,
                request_log.c.response,
                request_log.c.response.is_not(None).label("recorded"),
            ).where(_is(key))
        )
    ).one()
    return Prior(row.payload_hash, decode(row.response) if row.recorded else NO_RESPONSE)


async def record(conn: Conn, key: Key, response: Mapping[str, Any] | None) -> None:
    await conn.execute(request_log.update().where(_is(key)).values(response=encode(response)))
