"""The standard gRPC health service, made to tell the truth.

``HealthService`` answers ``grpc.health.v1.Health`` for the server as a whole ("")
and for each proto service. Its status follows two things:

- the database: ``DatabaseProbe`` runs ``SELECT 1`` on a connection of its own about
  once a second with a short timeout, and turns every service NOT_SERVING when it
  fails and SERVING when it answers again, logging one WARNING when the database
  goes and one INFO when it is back;
- the drain: on SIGTERM every service goes NOT_SERVING for good, and open ``Watch``
  streams get that status and then end, so nothing holds the shutdown open.

A server started with ``--insecure`` says so in every answer: the trailing metadata
``modelreg-warning`` carries the warning it logged at start.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import asyncpg
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from modelreg_server.background import cancel_and_wait

log = logging.getLogger("modelreg_server.health")

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
SERVICE_UNKNOWN = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
WARNING_METADATA = "modelreg-warning"


class HealthService(health_pb2_grpc.HealthServicer):  # type: ignore[misc]
    """Check and Watch over a status per service name ("" is the whole server)."""

    def __init__(self, names: Iterable[str], *, warning: str | None = None) -> None:
        self._names = ("", *names)
        # Metadata values are printable ASCII.
        self._trailer = (
            ((WARNING_METADATA, warning.encode("ascii", "replace").decode("ascii")),)
            if warning
            else None
        )
        self._status = dict.fromkeys(self._names, NOT_SERVING)
        self._changed = asyncio.Condition()
        self._draining = False

    @property
    def draining(self) -> bool:
        return self._draining

    def status(self, service: str = "") -> int:
        return int(self._status.get(service, SERVICE_UNKNOWN))

    async def set_all(self, serving: bool) -> None:
        """Every service SERVING or NOT_SERVING; ignored once the drain has begun."""
        if self._draining:
            return
        await self._publish(SERVING if serving else NOT_SERVING)

    async def drain(self) -> None:
        """NOT_SERVING for good; open Watch streams send it and end."""
        if self._draining:
            return
        self._draining = True
        await self._publish(NOT_SERVING)

    async def _publish(self, status: int) -> None:
        async with self._changed:
            for name in self._names:
                self._status[name] = status
            self._changed.notify_all()

    async def Check(
        self, request: health_pb2.HealthCheckRequest, context: grpc.aio.ServicerContext
    ) -> health_pb2.HealthCheckResponse:
        if self._trailer is not None:
            context.set_trailing_metadata(self._trailer)
        status = self._status.get(request.service)
        if status is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service {request.service!r}")
        return health_pb2.HealthCheckResponse(status=status)

    async def Watch(
        self, request: health_pb2.HealthCheckRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[health_pb2.HealthCheckResponse]:
        if self._trailer is not None:
            context.set_trailing_metadata(self._trailer)
        last = None
        while True:
            async with self._changed:
                status = self.status(request.service)
                draining = self._draining
                if status == last and not draining:
                    await self._changed.wait()
                    continue
            if status != last:
                yield health_pb2.HealthCheckResponse(status=status)
                last = status
            if draining:
                return


class DatabaseUnreachable(RuntimeError):
    pass


_REFUSALS = (
    asyncpg.InvalidAuthorizationSpecificationError,
    asyncpg.InvalidPasswordError,
    asyncpg.InvalidCatalogNameError,
)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        return "no answer within the probe timeout"
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:200]


class DatabaseProbe:
    """Probes the database in the background and drives ``HealthService``.

    Holds one connection of its own (counted in the process's connection bound).
    ``on_change`` is called with the new state on every transition, ``on_tick``
    after every probe (both feed the metrics).
    """

    def __init__(
        self,
        dsn: str,
        health: HealthService,
        *,
        interval: float,
        timeout: float,
        on_change: Callable[[bool], None] | None = None,
        on_tick: Callable[[], None] | None = None,
    ) -> None:
        self._dsn = dsn
        self._health = health
        self._interval = interval
        self._timeout = timeout
        self._on_change = on_change
        self._on_tick = on_tick
        self._conn: Any = None
        self._task: asyncio.Task[None] | None = None
        self.up = True
        self._down_since = 0.0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="database-probe")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        self._drop()

    async def _run(self) -> None:
        while True:
            started = time.monotonic()
            failure = await self.probe()
            await self._record(failure)
            if self._on_tick is not None:
                self._on_tick()
            await asyncio.sleep(max(0.0, self._interval - (time.monotonic() - started)))

    async def probe(self) -> BaseException | None:
        """One ``SELECT 1``: None when the database answered, else what went wrong."""
        try:
            await asyncio.wait_for(self._select_one(), self._timeout)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            self._drop()
            return exc
        return None

    async def _select_one(self) -> None:
        if self._conn is None or self._conn.is_closed():
            self._conn = await asyncpg.connect(
                self._dsn, server_settings={"application_name": "modelreg-health"}
            )
        await self._conn.fetchval("SELECT 1")

    async def _record(self, failure: BaseException | None) -> None:
        up = failure is None
        if up == self.up:
            return
        self.up = up
        if up:
            log.info(
                "database is back after %.1fs; health SERVING", time.monotonic() - self._down_since
            )
        else:
            self._down_since = time.monotonic()
            assert failure is not None
            log.warning("database unreachable (%s); health NOT_SERVING", _reason(failure))
        await self._health.set_all(up)
        if self._on_change is not None:
            self._on_change(up)

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.terminate()  # no goodbye: the server may be frozen


async def wait_for_database(dsn: str, seconds: float, *, probe_timeout: float = 5.0) -> None:
    """Return once the database accepts a connection; give up after ``seconds``.

    Raises ``DatabaseUnreachable`` naming the last error, so the server exits with a
    clear message instead of a traceback.
    """
    deadline = time.monotonic() + seconds
    logged = False
    while True:
        remaining = deadline - time.monotonic()
        try:
            conn = await asyncio.wait_for(
                asyncpg.connect(dsn, server_settings={"application_name": "modelreg-start"}),
                max(0.1, min(probe_timeout, remaining)),
            )
            await conn.close()
            if logged:
                log.info("database reachable; starting")
            return
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            if isinstance(exc, _REFUSALS):
                # Waiting will not change a wrong password or a missing database.
                refused = f"database refused the connection: {_reason(exc)}"
                raise DatabaseUnreachable(refused) from None
            if time.monotonic() + 0.5 >= deadline:
                raise DatabaseUnreachable(
                    f"database not reachable after waiting {seconds:g}s (MODELREG_DB_WAIT): "
                    f"{_reason(exc)}"
                ) from None
            if not logged:
                log.warning(
                    "database not reachable yet (%s); waiting up to %gs (MODELREG_DB_WAIT)",
                    _reason(exc),
                    seconds,
                )
                logged = True
        await asyncio.sleep(0.5)
