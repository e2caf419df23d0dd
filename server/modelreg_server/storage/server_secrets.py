"""Keys shared by every server process on one database, read once at start.

A key lives in the ``server_secrets`` table, made at random by the migration that
introduced it, so replicas agree without configuration and a token one of them
signs is good on all of them. Rotating a key is an UPDATE of its row and a
restart of the servers (tokens signed with the old key are then refused)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from modelreg_server.storage.pagination import PageTokens
from modelreg_server.storage.tables import server_secrets

PAGE_TOKENS = "page_tokens"


async def page_tokens(engine: AsyncEngine) -> PageTokens:
    """The page-token signer under the database's key."""
    async with engine.connect() as conn:
        key = await conn.scalar(
            select(server_secrets.c.value).where(server_secrets.c.name == PAGE_TOKENS)
        )
    if key is None:
        raise RuntimeError(f"no {PAGE_TOKENS!r} key in server_secrets: run `modelreg db upgrade`")
    return PageTokens(bytes(key))
