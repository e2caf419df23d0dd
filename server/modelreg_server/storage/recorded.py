"""Statements that record their own request_id: the one-statement mutations
(registration, CreateRun, small LogRunData and EndRun) insert the call's
idempotency key and response into request_log in the same statement, so a taken
request_id fails the statement whole, and nothing else is written."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg
from sqlalchemy import CTE, Text, bindparam, func, insert, literal_column, select
from sqlalchemy.dialects.postgresql import JSONB

from modelreg_server.storage import requests
from modelreg_server.storage.sql import Statement
from modelreg_server.storage.store import RawConn
from modelreg_server.storage.tables import request_log


def record_request(record: CTE) -> CTE:
    """Record the call's request_id with its response, ``record``'s one row (none: no
    call recorded), in the shape storage/requests.py stores, as register.py does."""
    rid = bindparam("request_id", type_=Text)
    return (
        insert(request_log)
        .from_select(
            ["method", "scope", "request_id", "payload_hash", "response"],
            select(
                bindparam("method", type_=Text),
                bindparam("scope", type_=Text),
                rid,
                bindparam("payload_hash", type_=Text),
                func.jsonb_build_object(
                    literal_column("'fields'"),
                    func.to_jsonb(record.table_valued()),
                    literal_column("'times'"),
                    bindparam("times", type_=JSONB),
                ),
            )
            .select_from(record)
            .where(rid.is_not(None)),
        )
        .cte("request")
    )


def request_values(key: requests.Key | None) -> dict[str, Any]:
    """The arguments of ``record_request``."""
    if key is None:
        return {"method": None, "scope": None, "request_id": None, "payload_hash": None}
    return {
        "method": key.method,
        "scope": key.scope,
        "request_id": key.request_id,
        "payload_hash": key.payload_hash,
    }


async def fetch_recorded(raw: RawConn, statement: Statement, values: Mapping[str, Any]) -> Any:
    """The row of a statement that records its request_id, or None when it wrote
    nothing: no row, or the request_id is taken (the whole statement failed)."""
    try:
        return await raw.fetchrow(statement.sql, *statement.args(values))
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == requests.KEY_CONSTRAINT:
            return None
        raise
