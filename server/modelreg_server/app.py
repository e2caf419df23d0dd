"""Composition root: database (embedded or URL), schema check, service, gRPC server."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from modelreg.api.v1 import registry_service_pb2, registry_service_pb2_grpc
from modelreg_server.config import Settings
from modelreg_server.service.registry import RegistryService
from modelreg_server.storage import migrate
from modelreg_server.storage.database import create_engine
from modelreg_server.storage.embedded import EmbeddedPostgres, start_embedded
from modelreg_server.storage.store import Store
from modelreg_server.transport.errors import map_errors
from modelreg_server.transport.servicer import RegistryServicer

log = logging.getLogger("modelreg_server")
REGISTRY_SERVICE = registry_service_pb2.DESCRIPTOR.services_by_name["RegistryService"]
SERVICE_NAMES = (REGISTRY_SERVICE.full_name,)


class SchemaOutdated(RuntimeError):
    pass


@dataclass
class Running:
    """A started server; ``port`` is the bound port (useful with port 0)."""

    server: grpc.aio.Server
    health: health.aio.HealthServicer
    store: Store
    port: int
    embedded: EmbeddedPostgres | None

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


async def start(settings: Settings) -> Running:
    store, embedded = await open_database(settings)
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", settings.max_message_bytes),
            ("grpc.max_send_message_length", settings.max_message_bytes),
            ("grpc.so_reuseport", 0),
        ],
    )
    registry_service_pb2_grpc.add_RegistryServiceServicer_to_server(
        map_errors(RegistryServicer(RegistryService(store)), REGISTRY_SERVICE), server
    )
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    try:
        port = server.add_insecure_port(settings.listen)
        await server.start()
    except BaseException:
        await store.close()
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)
        raise
    for name in ("", *SERVICE_NAMES):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return Running(server, health_servicer, store, port, embedded)


async def serve(settings: Settings, on_ready: Callable[[int], None] | None = None) -> None:
    """Run until SIGTERM or SIGINT, then drain in-flight calls and stop."""
    running = await start(settings)
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
