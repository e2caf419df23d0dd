"""Connections and transactions, and the translation of database errors into domain errors.

``Store.read()`` hands out an autocommit connection: one round trip per query,
no BEGIN/ROLLBACK around reads. ``Store.write()`` is one transaction per call."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import asyncpg
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from modelreg_server.domain import errors

Conn = AsyncConnection

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
        if exc.connection_invalidated or _sqlstate(exc) in _UNAVAILABLE_SQLSTATES:
            raise errors.Unavailable("database unavailable, retry later") from exc
        raise
    except (OSError, asyncpg.exceptions.ConnectionDoesNotExistError) as exc:
        raise errors.Unavailable("database unavailable, retry later") from exc
    except sa_exc.TimeoutError as exc:  # pool exhausted
        raise errors.Unavailable("database busy, retry later") from exc


class Store:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Conn]:
        with translate_errors():
            async with self._autocommit.connect() as conn:
                yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Conn]:
        with translate_errors():
            async with self.engine.begin() as conn:
                yield conn

    async def close(self) -> None:
        await self.engine.dispose()
