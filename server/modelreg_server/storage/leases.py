"""Connections for the hot paths, leased from an asyncpg pool and kept between calls."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import asyncpg

# A connection given back after a failed call is reset by the pool within this
# long, or closed.
RELEASE_TIMEOUT_S = 5.0


def _usable(conn: Any) -> bool:
    try:
        return not conn.is_closed()
    except asyncpg.InterfaceError:  # the pool took it back when its connection was lost
        return False


class Leases:
    """Up to ``size`` connections taken from ``pool`` once and reused, for single
    autocommit statements (get a version, register a version).

    ``Pool.release`` runs in a shielded task of its own, a loop turn per call that
    measured about 60 us of a 1.3 ms get-by-alias. A leased connection goes back
    to the pool, which resets it or replaces it if broken, only when a call on it
    failed or was cancelled, when it has been idle longer than ``idle_s`` (the
    most recently used is taken first, so a quieter hour lets the spare ones age
    out), and at close.
    """

    def __init__(self, pool: Any, size: int, *, idle_s: float = 300.0) -> None:
        self._pool = pool
        self._slots = asyncio.Semaphore(size)
        self._idle_s = idle_s
        # (connection, when it was given back), oldest first.
        self._idle: list[tuple[Any, float]] = []

    async def take(self) -> Any:
        await self._slots.acquire()
        try:
            if self._idle and time.monotonic() - self._idle[0][1] > self._idle_s:
                await self._retire_stale()
            while self._idle:
                conn, _ = self._idle.pop()
                if _usable(conn):
                    return conn
                # The server went away (restart, terminated backend): the pool
                # replaces the connection on the next acquire.
                with contextlib.suppress(asyncpg.InterfaceError):
                    await self._pool.release(conn)
            return await self._pool.acquire()
        except BaseException:
            self._slots.release()
            raise

    def give_back(self, conn: Any) -> None:
        self._idle.append((conn, time.monotonic()))
        self._slots.release()

    async def _retire_stale(self) -> None:
        """Close the connections idle for longer than ``idle_s``."""
        cutoff = time.monotonic() - self._idle_s
        while self._idle and self._idle[0][1] < cutoff:
            conn, _ = self._idle.pop(0)
            conn.terminate()
            with contextlib.suppress(asyncpg.InterfaceError):
                await self._pool.release(conn)

    async def drop(self, conn: Any) -> None:
        """Give ``conn`` back to the pool, which resets it (or closes it if the reset
        fails or takes longer than RELEASE_TIMEOUT_S)."""
        try:
            with contextlib.suppress(asyncpg.InterfaceError):
                await self._pool.release(conn, timeout=RELEASE_TIMEOUT_S)
        finally:
            self._slots.release()

    async def discard(self, conn: Any) -> None:
        """Close ``conn`` without a round trip on it (the server may not answer) and
        let the pool replace it on a later acquire.

        A statement interrupted by cancellation has a cancel request on its way
        (asyncpg sends one on a connection of its own); it is given up to
        RELEASE_TIMEOUT_S to arrive, so the statement does not run on in the server
        after its connection is gone. A frozen server gets no longer than that."""
        try:
            pending = list(getattr(getattr(conn, "_con", None), "_cancellations", ()))
            if pending:
                await asyncio.wait(pending, timeout=RELEASE_TIMEOUT_S)
            conn.terminate()
            with contextlib.suppress(asyncpg.InterfaceError):
                await self._pool.release(conn)
        finally:
            self._slots.release()

    def stats(self) -> tuple[int, int]:
        """(in use, idle) connections of the underlying pool."""
        size = int(self._pool.get_size())
        idle = int(self._pool.get_idle_size()) + len(self._idle)
        return max(0, size - idle), idle

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for conn, _ in idle:
            with contextlib.suppress(asyncpg.InterfaceError):
                await self._pool.release(conn)
        await self._pool.close()
