"""Servers with authentication on, and API keys made straight in the database (so
the tests of authorization do not depend on AccessService, which has tests of
its own)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any

import asyncpg

from modelreg_server.config import Settings
from modelreg_server.domain import access
from modelreg_server.domain.access import Role
from modelreg_server.testing import ServerThread, asyncpg_dsn


def bearer(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


async def _insert(
    url: str,
    project: str | None,
    role: Role,
    owner: str,
    expire_time: datetime | None,
    revoked: bool,
    rate_limit: float,
) -> str:
    key_id, token = access.new_token()
    conn = await asyncpg.connect(asyncpg_dsn(url), timeout=10)
    try:
        project_id = None
        if project is not None:
            project_id = await conn.fetchval("SELECT id FROM projects WHERE name = $1", project)
            assert project_id is not None, f"no project {project}"
        await conn.execute(
            """
            INSERT INTO api_keys (key_id, secret_hash, project_id, role, owner, rate_limit,
                                  expire_time, created_by, revoke_time, revoked_by)
            VALUES ($1, $2, $3, $4, $5, $6, $7, 'tests', CASE WHEN $8 THEN now() END,
                    CASE WHEN $8 THEN 'tests' ELSE '' END)
            """,
            key_id,
            access.token_hash(token),
            project_id,
            role.stored,
            owner,
            rate_limit,
            expire_time,
            revoked,
        )
    finally:
        await conn.close()
    return token


def make_key(
    database_url: str,
    project: str | None,
    role: Role,
    *,
    owner: str = "tester",
    expire_time: datetime | None = None,
    revoked: bool = False,
    rate_limit: float = 0.0,
) -> str:
    """A key's token; ``project`` None with Role.SERVER_ADMIN."""
    return asyncio.run(
        _insert(database_url, project, role, owner, expire_time, revoked, rate_limit)
    )


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
