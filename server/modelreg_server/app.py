"""Composition root: database (embedded or URL), schema check, the service objects,
and the gRPC server with every service registered from one table.

A family of the API is a proto service with its own servicer (transport/) over its
own service objects (service/). Adding one is a row in ``services()``: the row
registers the servicer's methods from the service descriptor through the per-call
pipeline (transport/calls.py: limits, error mapping, metrics, log lines; unary or
streaming, by each method's descriptor), gives it a health status and lists it
for reflection."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from modelreg.api.v1 import registry_service_pb2
from modelreg_server import metrics
from modelreg_server.config import Settings
from modelreg_server.service.aliases import AliasesService
from modelreg_server.service.idempotency import Idempotency
from modelreg_server.service.models import ModelsService
from modelreg_server.service.projects import ProjectsService
from modelreg_server.service.registry import Registry
from modelreg_server.service.versions import VersionsService
from modelreg_server.storage import migrate
from modelreg_server.storage.database import create_engine
from modelreg_server.storage.embedded import EmbeddedPostgres, start_embedded
from modelreg_server.storage.store import Store
from modelreg_server.transport import calls, reflection
from modelreg_server.transport.registry import RegistryServicer

log = logging.getLogger("modelreg_server")


class SchemaOutdated(RuntimeError):
    pass


@dataclass(frozen=True)
class ServiceEntry:
    """One proto service of the server: what serves it and how it is registered."""

    descriptor: ServiceDescriptor
    servicer: Any
    # The family's default request size limit (MODELREG_MAX_REQUEST_BYTES_<FAMILY>).
    max_request_bytes: int = 4 * 1024 * 1024

    @property
    def name(self) -> str:
        return self.descriptor.full_name


def services(store: Store) -> tuple[ServiceEntry, ...]:
    """The service table: every proto service this server answers."""
    requests = Idempotency(store)
    registry = Registry(
        projects=ProjectsService(store, requests),
        models=ModelsService(store, requests),
        versions=VersionsService(store, requests),
        aliases=AliasesService(store, requests),
    )
    return (
        ServiceEntry(
            registry_service_pb2.DESCRIPTOR.services_by_name["RegistryService"],
            RegistryServicer(registry),
            max_request_bytes=4 * 1024 * 1024,
        ),
    )


ServiceTable = Callable[[Store], Sequence[ServiceEntry]]


@dataclass
class Running:
    """A started server; ``port`` is the bound port (useful with port 0)."""

    server: grpc.aio.Server
    health: health.aio.HealthServicer
    store: Store
    port: int
    embedded: EmbeddedPostgres | None
    service_names: tuple[str, ...]

    async def stop(self, grace: float) -> None:
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)
        await self.store.close()
        if self.embedded is not None:
            await asyncio.to_thread(self.embedded.stop)


async def open_database(settings: Settings) -> tuple[Store, EmbeddedPostgres | None]:
    embedded = None
    url = settings.database_url
    if url is None:
        embedded = await asyncio.to_thread(start_embedded, settings.data_dir)
        url = embedded.url
    engine = create_engine(url, pool_size=settings.db_pool_size)
    try:
        if embedded is not None or settings.migrate:
            before, after = await migrate.upgrade(engine)
            if before != after:
                log.info("schema upgraded from %s to %s", before, after)
        elif not await migrate.is_current(engine):
            current = await migrate.current_revision(engine) or "(empty)"
            raise SchemaOutdated(
                f"database schema is at {current}, this server "
                f"needs {migrate.head_revision()}: run `modelreg db upgrade` or start with "
                "--migrate"
            )
    except BaseException:
        await engine.dispose()
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)
        raise
    return Store(engine), embedded


def build_server(settings: Settings, table: Sequence[ServiceEntry]) -> grpc.aio.Server:
    limits = calls.Limits(
        max_concurrent_rpcs=settings.max_concurrent_rpcs,
        request_memory_quota=settings.request_memory_quota,
        max_request_bytes=dict(settings.max_request_bytes),
    )
    pipeline = calls.Pipeline(
        limits, {calls.family(e.descriptor): e.max_request_bytes for e in table}
    )
    for entry in table:
        pipeline.add(entry.descriptor, entry.servicer)
    server = grpc.aio.server(
        handlers=(pipeline.generic_handler(),),
        options=[
            ("grpc.max_receive_message_length", pipeline.max_receive_bytes),
            ("grpc.max_send_message_length", settings.max_message_bytes),
            ("grpc.so_reuseport", 0),
        ],
    )
    return server


async def start(settings: Settings, table: ServiceTable = services) -> Running:
    """Open the database and serve ``table`` (the real one unless a test adds to it)."""
    store, embedded = await open_database(settings)
    entries = table(store)
    server = build_server(settings, entries)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = tuple(e.name for e in entries)
    reflection.enable(server, (*names, health.SERVICE_NAME))
    try:
        port = server.add_insecure_port(settings.listen)
        await server.start()
    except BaseException:
        await store.close()
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)
        raise
    # "" is the server as a whole; each service has a status of its own.
    for name in ("", *names):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return Running(server, health_servicer, store, port, embedded, names)


async def serve(settings: Settings, on_ready: Callable[[int], None] | None = None) -> None:
    """Run until SIGTERM or SIGINT, then drain in-flight calls and stop."""
    running = await start(settings)
    if settings.metrics_listen is not None:  # a daemon thread: it ends with the process
        metrics.start_metrics_server(settings.metrics_listen)
    if on_ready is not None:
        on_ready(running.port)
    else:
        log.info("modelreg serving on %s:%d", settings.listen.rpartition(":")[0], running.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        log.info("shutting down (grace %.1fs)", settings.shutdown_grace_s)
        await running.stop(settings.shutdown_grace_s)
        log.info("stopped")
