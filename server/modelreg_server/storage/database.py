"""Engine construction, the split of the connection budget, and database URLs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def async_url(url: str) -> URL:
    """Accept ``postgresql://``, ``postgres://`` or ``postgresql+asyncpg://`` URLs."""
    if url.startswith(("postgres://", "postgres+")):
        url = "postgresql" + url.removeprefix("postgres")
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        # Not echoed: a URL may carry a password.
        raise ValueError("not a database URL; expected postgresql://...") from exc
    if parsed.get_backend_name() != "postgresql":
        raise ValueError(f"only PostgreSQL is supported, got {parsed.get_backend_name()!r}")
    return parsed.set(drivername="postgresql+asyncpg")


# asyncpg connects give up after this long (a frozen or black-holed server would
# otherwise hold a call and a pool slot until the kernel gives up, minutes later).
CONNECT_TIMEOUT_S = 5.0
# No statement runs longer than this, even for a caller without a deadline; a call
# whose deadline expires sooner is cancelled by grpc and its connection discarded.
COMMAND_TIMEOUT_S = 60.0
# Idle connections are closed after this long (hot pool) or replaced when this old
# (engine pool), so a quiet process gives its connections back.
IDLE_LIFETIME_S = 300.0
RECYCLE_S = 1800
APPLICATION_NAME = "modelreg"
# Where create_engine leaves the hot pool's share, for Store.
HOT_POOL_OPTION = "modelreg_hot_pool_size"


@dataclass(frozen=True)
class PoolSplit:
    """How one process's connection budget (``MODELREG_DB_POOL_SIZE``) is shared:
    ``engine`` for the SQLAlchemy pool (no overflow), ``hot`` for the asyncpg pool of
    the single-statement hot paths, and one connection kept for the health probe,
    so ``engine + hot + 1 == total`` and the process never holds more than ``total``."""

    engine: int
    hot: int
    probe: int = 1


def split_pool(total: int) -> PoolSplit:
    """The share of each pool; a budget below 3 is raised to 3 (one connection each)."""
    total = max(3, total)
    hot = max(1, (total - 1) // 2)
    return PoolSplit(engine=total - 1 - hot, hot=hot)


def connect_args(command_timeout: float | None = COMMAND_TIMEOUT_S) -> dict[str, Any]:
    """asyncpg connection arguments shared by both pools."""
    return {
        "timeout": CONNECT_TIMEOUT_S,
        "command_timeout": command_timeout,
        "server_settings": {"application_name": APPLICATION_NAME},
    }


def create_engine(
    url: str, *, pool_size: int = 10, command_timeout: float | None = COMMAND_TIMEOUT_S
) -> AsyncEngine:
    """An engine whose pool takes its share of ``pool_size``, the process's whole
    connection budget (``split_pool``); the hot pool's share travels with the engine
    as an execution option, read by ``Store``.

    A connection found dead (the server restarted, a backend was terminated) fails
    its call with a disconnect error, which SQLAlchemy turns into invalidating that
    connection and every other one the pool made before it; the next checkout
    connects afresh. No pre-ping: it would add a round trip to every call.
    ``command_timeout=None`` is for schema migrations, which may run for long.
    """
    split = split_pool(pool_size)
    return create_async_engine(
        async_url(url),
        pool_size=split.engine,
        max_overflow=0,
        pool_timeout=10,  # waiting for a free connection; then UNAVAILABLE
        pool_pre_ping=False,
        pool_recycle=RECYCLE_S,
        connect_args=connect_args(command_timeout),
        execution_options={HOT_POOL_OPTION: split.hot},
    )


def with_database(url: str, database: str) -> str:
    """The same server URL pointing at another database."""
    return make_url(url).set(database=database).render_as_string(hide_password=False)
