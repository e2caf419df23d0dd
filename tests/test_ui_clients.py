"""The dashboard's client pool: one AsyncClient per API key, least recently used closed
past the cap, refused keys dropped, and a key checked on the key page never kept."""

from __future__ import annotations

import asyncio

import pytest

from modelreg_ui.clients import ClientPool
from modelreg_ui.settings import UiSettings

KEYS = [f"mrk_{'a' * 11}{i}_{'b' * 43}" for i in range(4)]


async def test_one_client_per_key_least_recently_used_closed() -> None:
    pool = ClientPool(UiSettings(target="127.0.0.1:9", max_clients=2))
    try:
        first = pool.client(KEYS[0])
        assert pool.client(KEYS[0]) is first
        pool.client(KEYS[1])
        pool.client(KEYS[0])  # KEYS[1] is now the least recently used
        pool.client(KEYS[2])
        assert len(pool) == 2
        assert pool.client(KEYS[0]) is first
        assert pool.client(KEYS[1]) is not None and len(pool) == 2
    finally:
        await pool.close()


async def test_a_refused_key_is_forgotten_and_a_checked_key_is_not_kept() -> None:
    pool = ClientPool(UiSettings(target="127.0.0.1:9"))
    try:
        kept = pool.client(KEYS[0])
        pool.forget(KEYS[0])
        assert len(pool) == 0 and pool.client(KEYS[0]) is not kept
        probe = pool.make(KEYS[1])
        await probe.close()
        assert len(pool) == 1
        pool.forget("never-seen")  # nothing to forget: no error
    finally:
        await pool.close()


async def test_a_malformed_key_is_a_value_error() -> None:
    pool = ClientPool(UiSettings(target="127.0.0.1:9"))
    with pytest.raises(ValueError):
        pool.client("not a key")
    assert len(pool) == 0
    await asyncio.sleep(0)
    await pool.close()
