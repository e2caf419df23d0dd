"""MODELREG_DB_POOL_SIZE bounds every connection a server process opens to the
database, both pools together, under concurrent reads and writes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import asyncpg
import pytest

import modelreg
from modelreg_server.config import Settings
from modelreg_server.storage.database import split_pool
from modelreg_server.testing import ServerThread, asyncpg_dsn, fresh_database
from tests.conftest import unique

POOL_SIZE = 5
CONCURRENT = 40
ROUNDS = 5


@pytest.fixture
def bounded_server(pg_server_url: str) -> Iterator[tuple[ServerThread, str]]:
    with fresh_database(pg_server_url) as url:
        settings = Settings(listen="127.0.0.1:0", database_url=url, db_pool_size=POOL_SIZE)
        server = ServerThread(settings).start()
        try:
            yield server, url
        finally:
            server.stop()


async def _count_connections(admin: asyncpg.Connection, database: str) -> int:
    return int(
        await admin.fetchval("SELECT count(*) FROM pg_stat_activity WHERE datname = $1", database)
    )


async def test_connections_never_exceed_the_pool_size_setting(
    pg_server_url: str, bounded_server: tuple[ServerThread, str]
) -> None:
    server, url = bounded_server
    database = url.rpartition("/")[2].partition("?")[0]
    seen: list[int] = []
    done = asyncio.Event()
    # The sampler is connected to the admin database, so it does not count itself.
    admin = await asyncpg.connect(asyncpg_dsn(pg_server_url), timeout=10)

    async def sample() -> None:
        while not done.is_set():
            seen.append(await _count_connections(admin, database))
            await asyncio.sleep(0.005)

    project = unique()
    try:
        sampler = asyncio.create_task(sample())
        async with modelreg.AsyncClient(server.target, actor="tester", timeout=30) as client:
            await client.create_project(project)
            await client.register_model_version(project, "m", artifact_uri="s3://b/0")
            await client.set_alias(project, "m", "production", 1)

            async def one(i: int) -> object:
                match i % 5:
                    case 0:
                        return await client.register_model_version(
                            project, "m", artifact_uri=f"s3://b/{i}"
                        )
                    case 1:
                        return await client.get_model_version(project, "m", "production")
                    case 2:
                        return [v async for v in client.list_model_versions(project, "m")]
                    case 3:
                        return await client.get_model(project, "m")
                    case _:
                        return await client.list_aliases(project, "m")

            for _ in range(ROUNDS):
                await asyncio.gather(*(one(i) for i in range(CONCURRENT)))
            versions = [v async for v in client.list_model_versions(project, "m")]
        done.set()
        await sampler
    finally:
        done.set()
        await admin.close()
    assert len(versions) == 1 + ROUNDS * CONCURRENT // 5
    assert seen and max(seen) <= POOL_SIZE, f"up to {max(seen)} connections, setting {POOL_SIZE}"
    # Both pools were in use, so the bound was not met by leaving one idle.
    assert max(seen) >= 2


@pytest.mark.parametrize("total", [3, 4, 5, 10, 25])
def test_the_pools_and_the_health_probe_share_the_setting(total: int) -> None:
    split = split_pool(total)
    assert split.engine >= 1 and split.hot >= 1
    assert split.engine + split.hot + 1 == total
