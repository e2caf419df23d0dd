"""Migration 0003 (server_secrets), tested by upgrading a database made at 0002
with data in it: the page-token key is made once, at random, and the upgraded
registry serves and pages its old data with it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

import modelreg
from modelreg.api.v1 import registry_service_pb2 as rpc
from modelreg_server.testing import fresh_database, running_server
from tests.test_migrations import AT_0001, _sql, _upgrade


def _at_0002_with_data(url: str) -> None:
    asyncio.run(_upgrade(url, "0001"))
    asyncio.run(_sql(url, AT_0001))
    asyncio.run(_upgrade(url, "0002"))


@pytest.fixture(scope="module")
def two_upgraded(pg_server_url: str) -> Iterator[tuple[str, str]]:
    """Two databases made at 0002, filled, then upgraded to 0003."""
    with (
        fresh_database(pg_server_url, migrated=False) as a,
        fresh_database(pg_server_url, migrated=False) as b,
    ):
        for url in (a, b):
            _at_0002_with_data(url)
            asyncio.run(_upgrade(url, "0003"))
            asyncio.run(_upgrade(url, "head"))  # later revisions keep the key; servers need head
        yield a, b


def _key(url: str) -> bytes:
    rows = asyncio.run(_sql(url, "SELECT name, value FROM server_secrets"))
    assert [r["name"] for r in rows] == ["page_tokens"]
    return bytes(rows[0]["value"])


def test_0003_makes_one_random_page_token_key_per_database(two_upgraded: tuple[str, str]) -> None:
    a, b = (_key(url) for url in two_upgraded)
    assert len(a) == len(b) == 32
    assert a != b  # random, not a constant shipped with the code


def test_0003_keeps_the_data_and_the_upgraded_registry_pages_it(
    two_upgraded: tuple[str, str],
) -> None:
    url = two_upgraded[0]
    sql = "SELECT (SELECT count(*) FROM model_versions) AS v, (SELECT count(*) FROM request_log) r"
    counts = asyncio.run(_sql(url, sql))
    assert (counts[0]["v"], counts[0]["r"]) == (2, 4)
    with running_server(url) as server, modelreg.Client(server.target) as client:
        parent = "projects/legacy/models/m"
        first = client.stub.ListModelVersions(
            rpc.ListModelVersionsRequest(parent=parent, page_size=1), timeout=10
        )
        assert [v.version for v in first.model_versions] == [1]
        rest = client.stub.ListModelVersions(
            rpc.ListModelVersionsRequest(
                parent=parent, page_size=1, page_token=first.next_page_token
            ),
            timeout=10,
        )
        assert [v.version for v in rest.model_versions] == [2]
        assert not rest.next_page_token
