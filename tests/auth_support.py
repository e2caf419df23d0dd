"""Servers with authentication on, and API keys made straight in the database (so
the tests of authorization do not depend on AccessService, which has tests of
its own)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import asyncpg

from modelreg_server.config import Settings
from modelreg_server.testing import ServerThread, asyncpg_dsn, make_key

__all__ = ["auth_server", "bearer", "make_key", "run_sql"]


def bearer(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


def run_sql(database_url: str, sql: str, *args: Any) -> Any:
    async def go() -> Any:
        conn = await asyncpg.connect(asyncpg_dsn(database_url), timeout=10)
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()

    return asyncio.run(go())


@contextmanager
def auth_server(database_url: str, **settings: Any) -> Iterator[ServerThread]:
    """A server with auth on (no rate limit unless given) on 127.0.0.1."""
    base = Settings(listen="127.0.0.1:0", database_url=database_url, auth=True, rate_limit_rps=0)
    server = ServerThread(replace(base, **settings)).start()
    try:
        yield server
    finally:
        server.stop()
