"""What the store does with a hot connection whose call was cancelled mid-statement
(grpc cancels a handler when its client's deadline passes): the connection is
closed, never handed to the next call in an unknown state."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg

from modelreg_server.storage.leases import Leases
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


async def _backends_alive(database_url: str, pids: list[int]) -> int:
    """How many of ``pids`` are still connected, once the closes had time to land."""
    admin = await asyncpg.connect(asyncpg_dsn(database_url), timeout=10)
    try:
        alive = len(pids)
        for _ in range(100):
            alive = int(
                await admin.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1::int[])", pids
                )
            )
            if alive == 0:
                break
            await asyncio.sleep(0.05)
        return alive
    finally:
        await admin.close()


async def test_hot_connections_idle_past_their_lifetime_are_closed(database_url: str) -> None:
    """After a busy moment the spare hot connections are not held for good: the
    next call closes those idle longer than the lifetime."""
    pool = await asyncpg.create_pool(asyncpg_dsn(database_url), min_size=0, max_size=3)
    leases = Leases(pool, 3, idle_s=0.2)
    try:
        busy = [await leases.take() for _ in range(3)]
        pids = [conn.get_server_pid() for conn in busy]
        for conn in busy:
            leases.give_back(conn)
        await asyncio.sleep(0.3)
        fresh = await leases.take()
        assert await fresh.fetchval("SELECT 1") == 1
        assert fresh.get_server_pid() not in pids
        leases.give_back(fresh)
        assert sum(leases.stats()) == 1
        assert await _backends_alive(database_url, pids) == 0
    finally:
        await leases.close()
