"""Fixtures of the fault tests: a TCP proxy to break connections with, and a
PostgreSQL of the test's own to stop, start and freeze."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.faults.pg import OwnPostgres
from tests.faults.proxy import FaultProxy


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    """A running cluster of this test's own; always stopped and deleted afterwards."""
    pg = OwnPostgres()
    try:
        pg.start()
        yield pg
    finally:
        pg.destroy()


@pytest.fixture
def fault_proxy() -> Iterator[Callable[[str], FaultProxy]]:
    """``fault_proxy(upstream)`` makes a proxy; each is closed at teardown."""
    made: list[FaultProxy] = []

    def make(upstream: str) -> FaultProxy:
        proxy = FaultProxy(upstream)
        made.append(proxy)
        return proxy

    yield make
    for proxy in made:
        proxy.close()
