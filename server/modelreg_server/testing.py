"""Helpers for tests and benchmarks: a throwaway database and an in-process server.

Not used by the server itself."""

from __future__ import annotations

import asyncio
import os
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import asyncpg

from modelreg_server import app
from modelreg_server.config import Settings
from modelreg_server.domain import access
from modelreg_server.domain.access import Role
from modelreg_server.storage import migrate
from modelreg_server.storage.database import async_url, create_engine, with_database
from modelreg_server.storage.embedded import start_embedded

TEST_DATABASE_ENV = "MODELREG_TEST_DATABASE_URL"


def asyncpg_dsn(url: str) -> str:
    """A database URL (any of the spellings the server takes) as asyncpg wants it."""
    return async_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(url), timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _migrate(url: str) -> None:
    engine = create_engine(url, pool_size=3, command_timeout=None)
    try:
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()


@contextmanager
def server_url(env: dict[str, str] | None = None) -> Iterator[str]:
    """A PostgreSQL server URL: $MODELREG_TEST_DATABASE_URL, else a throwaway embedded one."""
    env = dict(os.environ) if env is None else env
    given = env.get(TEST_DATABASE_ENV)
    if given:
        yield given
        return
    with tempfile.TemporaryDirectory(prefix="mr-") as tmp:
        embedded = start_embedded(Path(tmp), delete_on_stop=True)
        try:
            yield embedded.url
        finally:
            embedded.stop()


@contextmanager
def fresh_database(admin_url: str, *, migrated: bool = True) -> Iterator[str]:
    """Create a uniquely named database on ``admin_url``'s server; drop it afterwards."""
    name = f"modelreg_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin(admin_url, f'CREATE DATABASE "{name}"'))
    url = with_database(admin_url, name)
    try:
        if migrated:
            asyncio.run(_migrate(url))
        yield url
    finally:
        asyncio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


class ServerThread:
    """A real gRPC server on its own event loop in a background thread, serving
    ``table`` (the server's own service table unless a test adds to it)."""

    def __init__(self, settings: Settings, table: app.ServiceTable = app.services) -> None:
        self.settings = settings
        self._table = table
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._running: app.Running | None = None

    @property
    def target(self) -> str:
        assert self._running is not None
        return f"{self.settings.listen.rpartition(':')[0]}:{self._running.port}"

    def start(self) -> ServerThread:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(app.start(self.settings, self._table), self._loop)
        self._running = future.result(timeout=60)
        return self

    def drain(self, seconds: float = 0.0) -> None:
        """What SIGTERM starts: health NOT_SERVING, open streams ended, the listener open."""
        assert self._running is not None
        drain = self._running.drain(seconds)
        asyncio.run_coroutine_threadsafe(drain, self._loop).result(timeout=60 + seconds)

    def stop(self, grace: float = 1.0) -> None:
        if self._running is not None:
            running, self._running = self._running, None
            asyncio.run_coroutine_threadsafe(running.stop(grace), self._loop).result(timeout=60)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


@contextmanager
def running_server(
    database_url: str, table: app.ServiceTable = app.services
) -> Iterator[ServerThread]:
    settings = Settings(listen="127.0.0.1:0", database_url=database_url)
    server = ServerThread(settings, table).start()
    try:
        yield server
    finally:
        server.stop()


# API keys made straight in the database (tests and benchmarks of authentication).


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
