"""Connections and transactions, and the translation of database errors into domain errors.

``Store.read()`` hands out an autocommit connection: one round trip per query,
no BEGIN/ROLLBACK around reads. ``Store.write()`` is one transaction per call."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from modelreg_server.domain import errors
from modelreg_server.storage import server_secrets
from modelreg_server.storage.database import (
    HOT_POOL_OPTION,
    IDLE_LIFETIME_S,
    connect_args,
)
from modelreg_server.storage.leases import Leases
from modelreg_server.storage.pagination import PageTokens

Conn = AsyncConnection
RawConn = Any  # asyncpg.Connection; asyncpg ships no type information

_UNAVAILABLE_SQLSTATES = {
    "08000", "08003", "08006", "08001", "08004",  # connection exceptions
    "57P01", "57P02", "57P03",  # admin/crash shutdown, cannot connect now
    "53300",  # too many connections
}  # fmt: skip


def _sqlstate(exc: BaseException) -> str | None:
    orig = getattr(exc, "orig", None)
    for candidate in (orig, getattr(orig, "__cause__", None), exc.__cause__):
        state = getattr(candidate, "sqlstate", None)
        if isinstance(state, str):
            return state
    return None


@contextmanager
def translate_errors() -> Iterator[None]:
    """Turn lost connections and an unreachable server into ``Unavailable``.

    Constraint violations are not translated here: the query that can violate a
    constraint knows which field to name and catches ``IntegrityError`` itself.
    """
    try:
        yield
    except sa_exc.DBAPIError as exc:
        if (
            exc.connection_invalidated
            or _sqlstate(exc) in _UNAVAILABLE_SQLSTATES
            or isinstance(exc.orig, TimeoutError)
            or isinstance(getattr(exc.orig, "__cause__", None), TimeoutError)
        ):
            raise errors.Unavailable("database unavailable, retry later") from exc
        raise
    except asyncpg.PostgresError as exc:
        if exc.sqlstate in _UNAVAILABLE_SQLSTATES:
            raise errors.Unavailable("database unavailable, retry later") from exc
        raise
    except TimeoutError as exc:  # a connect or a statement timed out (frozen database)
        raise errors.Unavailable("database not responding, retry later") from exc
    except (OSError, asyncpg.InterfaceError) as exc:
        raise errors.Unavailable("database unavailable, retry later") from exc
    except sa_exc.TimeoutError as exc:  # pool exhausted
        raise errors.Unavailable("database busy, retry later") from exc


_SCAN = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def _decode_json(text: str) -> Any:
    """jsonb text to Python values, several times per listed version: most labels and
    training data are empty, and jsonb text has no surrounding whitespace, so the C
    scanner can be called directly (json.loads adds two Python frames and two regex
    matches; it still reports anything unexpected)."""
    if text == "{}":
        return {}
    if text == "[]":
        return []
    try:
        value, end = _SCAN(text, 0)
    except StopIteration:
        return json.loads(text)
    return value if end == len(text) else json.loads(text)


async def _init_connection(conn: RawConn) -> None:
    # The same JSON codecs as SQLAlchemy's asyncpg dialect: JSON text in, Python values out.
    for name in ("json", "jsonb"):
        await conn.set_type_codec(
            name, encoder=str, decoder=_decode_json, schema="pg_catalog", format="text"
        )


async def _keep_session(conn: RawConn) -> None:
    """Pool reset hook: nothing to undo.

    Hot-path connections only run single autocommit statements that change no
    session state; asyncpg still rolls back an open transaction on release. This
    skips the default reset (RESET ALL, UNLISTEN...), a round trip per call.
    """


@dataclass(frozen=True)
class PoolStats:
    in_use: int
    idle: int


class Store:
    """The database: a SQLAlchemy engine for most work, and connections leased
    from a small asyncpg pool for the hot single-statement paths (get a version,
    register a version).

    Connections: the engine's pool and the hot pool together hold at most the
    process's budget, ``MODELREG_DB_POOL_SIZE``, less one connection kept for the
    health probe (``database.split_pool``); the engine made by
    ``database.create_engine`` carries the hot pool's share.

    After the database restarts, a call on a dead connection fails as
    ``Unavailable`` (which clients retry) and the connection is discarded: the
    engine's pool invalidates every connection it made before, the hot pool
    replaces the one that failed and skips the others once asyncpg has seen them
    close. A call cancelled mid-statement (its deadline expired) or timed out
    discards its connection rather than reuse it in an unknown state.
    """

    def __init__(self, engine: AsyncEngine, page_tokens: PageTokens | None = None) -> None:
        self.engine = engine
        self._page_tokens = page_tokens
        # The hot pool's share of the budget; an engine made elsewhere gets as many
        # hot connections as its own pool has.
        hot = engine.get_execution_options().get(HOT_POOL_OPTION)
        self._hot_size = int(hot or max(1, engine.pool.size()))  # type: ignore[attr-defined]
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._leases: Leases | None = None
        self._leases_lock = asyncio.Lock()

    async def _hot_leases(self) -> Leases:
        if self._leases is None:
            async with self._leases_lock:
                if self._leases is None:
                    url = self.engine.url.set(drivername="postgresql")
                    pool = await asyncpg.create_pool(
                        url.render_as_string(hide_password=False),
                        min_size=0,
                        max_size=self._hot_size,
                        max_inactive_connection_lifetime=IDLE_LIFETIME_S,
                        init=_init_connection,
                        reset=_keep_session,
                        **connect_args(),
                    )
                    self._leases = Leases(pool, self._hot_size, idle_s=IDLE_LIFETIME_S)
        return self._leases

    async def page_tokens(self) -> PageTokens:
        """The page-token signer: given at start (app.open_database), else read once."""
        if self._page_tokens is None:
            with translate_errors():
                self._page_tokens = await server_secrets.page_tokens(self.engine)
        return self._page_tokens

    @asynccontextmanager
    async def hot(self) -> AsyncIterator[RawConn]:
        """A raw asyncpg connection in autocommit mode, for one prepared statement."""
        with translate_errors():
            leases = await self._hot_leases()
            conn = await leases.take()
            try:
                yield conn
            except (asyncio.CancelledError, TimeoutError, OSError, asyncpg.InterfaceError):
                # Cancelled or timed out mid-statement, or the connection broke:
                # its state is unknown, so it is closed, never reused.
                await leases.discard(conn)
                raise
            except asyncpg.PostgresError as exc:
                # The server answered: the connection is sound unless the error says
                # it is going away.
                if exc.sqlstate in _UNAVAILABLE_SQLSTATES:
                    await leases.discard(conn)
                else:
                    await leases.drop(conn)  # the pool resets it
                raise
            except BaseException:
                await leases.drop(conn)  # the pool resets it, or replaces it if broken
                raise
            leases.give_back(conn)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Conn]:
        with translate_errors():
            async with self._autocommit.connect() as conn:
                try:
                    yield conn
                except (OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError):
                    # Broken under the raw driver: SQLAlchemy has not seen it, so drop it here
                    # rather than hand it to the next caller.
                    await conn.invalidate()
                    raise

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Conn]:
        with translate_errors():
            async with self.engine.begin() as conn:
                yield conn

    def pool_stats(self) -> PoolStats:
        """Connections this process holds now, in use and idle (both pools)."""
        pool: Any = self.engine.pool
        in_use = int(pool.checkedout())
        idle = int(pool.checkedin())
        if self._leases is not None:
            leased, spare = self._leases.stats()
            in_use += leased
            idle += spare
        return PoolStats(in_use=in_use, idle=idle)

    async def close(self) -> None:
        if self._leases is not None:
            await self._leases.close()
        await self.engine.dispose()
