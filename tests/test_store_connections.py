"""What the store does with a hot connection whose call was cancelled mid-statement
(grpc cancels a handler when its client's deadline passes): the connection is
closed, never handed to the next call in an unknown state."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg

from modelreg_server.storage.store import Store
from modelreg_server.testing import asyncpg_dsn


async def test_a_hot_connection_cancelled_mid_statement_is_discarded(
    store: Store, database_url: str
) -> None:
    started = asyncio.Event()
    pids: list[int] = []

    async def slow_call() -> None:
        async with store.hot() as conn:
            pids.append(conn.get_server_pid())
            started.set()
            await conn.execute("SELECT pg_sleep(30)")

    task = asyncio.create_task(slow_call())
    await asyncio.wait_for(started.wait(), timeout=10)
    await asyncio.sleep(0.1)  # the statement is running on the server
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    async with store.hot() as conn:
        assert conn.get_server_pid() != pids[0]
        assert await conn.fetchval("SELECT 1") == 1
    # The cancelled backend goes away (bounded wait: the server notices the closed socket).
    admin = await asyncpg.connect(asyncpg_dsn(database_url), timeout=10)
    try:
        for _ in range(100):
            alive = await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pids[0]
            )
            if alive == 0:
                break
            await asyncio.sleep(0.05)
        assert alive == 0, "the cancelled connection is still open"
    finally:
        await admin.close()
