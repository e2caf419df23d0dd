"""Shared fixtures: one PostgreSQL database per test run (the server named by
MODELREG_TEST_DATABASE_URL, else a throwaway embedded cluster), one real gRPC
server on 127.0.0.1, and a fresh project per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

import modelreg
from modelreg_server.storage.database import create_engine
from modelreg_server.storage.store import Store
from modelreg_server.testing import ServerThread, fresh_database, running_server, server_url


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    # An unreachable MODELREG_TEST_DATABASE_URL fails here: it is never a skip.
    with server_url() as url:
        yield url


@pytest.fixture(scope="session")
def database_url(pg_server_url: str) -> Iterator[str]:
    with fresh_database(pg_server_url) as url:
        yield url


@pytest.fixture(scope="session")
def server(database_url: str) -> Iterator[ServerThread]:
    with running_server(database_url) as srv:
        yield srv


@pytest.fixture(scope="session")
def target(server: ServerThread) -> str:
    return server.target


@pytest.fixture
def client(target: str) -> Iterator[modelreg.Client]:
    with modelreg.Client(target, actor="tester") as c:
        yield c


@pytest.fixture
async def aclient(target: str) -> AsyncIterator[modelreg.AsyncClient]:
    async with modelreg.AsyncClient(target, actor="tester") as c:
        yield c


def unique(prefix: str = "p") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def project(client: modelreg.Client) -> str:
    """A fresh project, so tests never see each other's data."""
    name = unique("proj")
    client.create_project(name)
    return name


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    s = Store(create_engine(database_url, pool_size=2))
    yield s
    await s.close()
