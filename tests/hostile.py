"""Helpers of the hostile-input tests: raw calls that may fail any way, and a
digest of every table, to prove a rejected call wrote nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import asyncpg
import grpc
from google.rpc import status_pb2
from grpc_status import rpc_status

from modelreg_server.testing import asyncpg_dsn

SERVICE = "/modelreg.api.v1.RegistryService"
# A version number of 5,000 digits: Python's int() refuses more than 4,300.
HUGE_NUMBER = "9" * 5000
# Metadata of raw mutations, as the SDK sends it.
ACTOR = (("modelreg-actor", "tester"),)


def outcome(call: Callable[..., Any], request: Any) -> tuple[grpc.StatusCode, status_pb2.Status]:
    """(code, google.rpc.Status) of one call, OK included; never raises RpcError."""
    try:
        call(request, timeout=20, metadata=ACTOR)
    except grpc.RpcError as err:
        status = rpc_status.from_call(err)
        if status is None:
            status = status_pb2.Status(code=err.code().value[0], message=err.details() or "")
        return err.code(), status
    return grpc.StatusCode.OK, status_pb2.Status()


def raw_method(channel: grpc.Channel, method: str) -> Callable[..., Any]:
    """A RegistryService method that takes and returns bytes, as they are on the wire."""
    return channel.unary_unary(f"{SERVICE}/{method}")


class TableDigest:
    """A digest of every row of every table of one database, on a connection and an
    event loop of its own (the tests calling it are synchronous)."""

    def __init__(self, database_url: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._conn = self._loop.run_until_complete(asyncpg.connect(asyncpg_dsn(database_url)))
        tables = self._loop.run_until_complete(
            self._conn.fetch(
                "SELECT quote_ident(table_name) AS t FROM information_schema.tables "
                "WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1"
            )
        )
        self._sql = " UNION ALL ".join(
            f"SELECT '{r['t']}', count(*), "
            f"md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM {r['t']} x"
            for r in tables
        )

    def __call__(self) -> dict[str, tuple[int, str]]:
        rows = self._loop.run_until_complete(self._conn.fetch(self._sql))
        return {r[0]: (r[1], r[2]) for r in rows}

    def close(self) -> None:
        self._loop.run_until_complete(self._conn.close())
        self._loop.close()
