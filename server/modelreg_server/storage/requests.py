"""Idempotency keys: a retried mutation with the same request_id replays, a
different payload under the same id is refused."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from modelreg_server.domain.errors import InvalidArgument
from modelreg_server.storage.store import Conn
from modelreg_server.storage.tables import request_log

REQUEST_ID_MISMATCH = "REQUEST_ID_REUSED"


async def claim(conn: Conn, method: str, request_id: str, payload_hash: str) -> str | None:
    """Claim ``request_id`` for this transaction.

    Returns None when the id is new (the caller does the work and the claim
    commits with it), or the resource name recorded by the call that already
    used it. A concurrent claim of the same id waits for the first transaction.
    """
    inserted = await conn.execute(
        insert(request_log)
        .values(method=method, request_id=request_id, payload_hash=payload_hash)
        .on_conflict_do_nothing()
        .returning(request_log.c.request_id)
    )
    if inserted.first() is not None:
        return None
    row = (
        await conn.execute(
            select(request_log.c.payload_hash, request_log.c.resource).where(
                request_log.c.method == method, request_log.c.request_id == request_id
            )
        )
    ).one()
    if row.payload_hash != payload_hash:
        raise InvalidArgument(
            "request_id",
            "already used for a different request; make a new id per logical call",
            reason=REQUEST_ID_MISMATCH,
        )
    return str(row.resource)


async def record(conn: Conn, method: str, request_id: str, resource: str) -> None:
    await conn.execute(
        request_log.update()
        .where(request_log.c.method == method, request_log.c.request_id == request_id)
        .values(resource=resource)
    )
