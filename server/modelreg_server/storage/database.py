"""Engine construction and database URLs."""

from __future__ import annotations

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


def create_engine(url: str, *, pool_size: int = 10, max_overflow: int = 10) -> AsyncEngine:
    return create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=False,
        pool_recycle=1800,
        connect_args={"server_settings": {"application_name": "modelreg"}},
    )


def with_database(url: str, database: str) -> str:
    """The same server URL pointing at another database."""
    return make_url(url).set(database=database).render_as_string(hide_password=False)
