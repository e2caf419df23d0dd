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
import contextlib
import functools
import logging
import signal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1 import health_pb2_grpc

from modelreg.api.v1 import (
    access_service_pb2,
    lineage_service_pb2,
    production_service_pb2,
    registry_service_pb2,
    tracking_service_pb2,
)
from modelreg_server import bootstrap, metrics, permissions
from modelreg_server.background import cancel_and_wait
from modelreg_server.config import Settings, is_loopback
from modelreg_server.health import DatabaseProbe, HealthService, wait_for_database
from modelreg_server.permissions import Rule
from modelreg_server.service.access import AccessService
from modelreg_server.service.aliases import AliasesService
from modelreg_server.service.batches import BatchesService
from modelreg_server.service.datasets import DatasetsService
from modelreg_server.service.deployments import DeploymentsService
from modelreg_server.service.evaluations import EvaluationsService
from modelreg_server.service.graph import GraphService
from modelreg_server.service.idempotency import Idempotency
from modelreg_server.service.inference import InferenceService
from modelreg_server.service.lineage import Lineage
from modelreg_server.service.models import ModelsService
from modelreg_server.service.pipelines import PipelinesService
from modelreg_server.service.production import Production
from modelreg_server.service.projects import ProjectsService
from modelreg_server.service.registry import Registry
from modelreg_server.service.runs import RunsService
from modelreg_server.service.tracking import Tracking
from modelreg_server.service.versions import VersionsService
from modelreg_server.storage import api_keys, inference_retention, migrate, server_secrets
from modelreg_server.storage.database import async_url, create_engine
from modelreg_server.storage.embedded import EmbeddedPostgres, start_embedded
from modelreg_server.storage.store import Store
from modelreg_server.transport import calls, reflection, tls
from modelreg_server.transport.access import AccessServicer
from modelreg_server.transport.auth import Authenticator
from modelreg_server.transport.lineage import LineageServicer
from modelreg_server.transport.production import ProductionServicer
from modelreg_server.transport.registry import RegistryServicer
from modelreg_server.transport.tracking import TrackingServicer

log = logging.getLogger("modelreg_server")
HEALTH_SERVICE = "grpc.health.v1.Health"
# How often the inference tables' upkeep runs (partitions ahead, retention).
INFERENCE_UPKEEP_S = 3600.0


class SchemaOutdated(RuntimeError):
    pass


@dataclass(frozen=True)
class ServiceEntry:
    """One proto service of the server: what serves it and how it is registered."""

    descriptor: ServiceDescriptor
    servicer: Any
    # The family's default request size limit (MODELREG_MAX_REQUEST_BYTES_<FAMILY>).
    max_request_bytes: int = 4 * 1024 * 1024
    # Method name -> what it needs (permissions.py); a method missing here is
    # refused to every key.
    permissions: Mapping[str, Rule] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.descriptor.full_name


def services(store: Store, settings: Settings | None = None) -> tuple[ServiceEntry, ...]:
    """The service table: every proto service this server answers (``settings``:
    what some services need at start; defaults without)."""
    settings = settings or Settings()
    requests = Idempotency(store)
    limits = settings.field_limits
    registry = Registry(
        projects=ProjectsService(store, requests, limits),
        models=ModelsService(store, requests, limits),
        versions=VersionsService(store, requests, limits),
        aliases=AliasesService(store, requests),
    )
    tracking = Tracking(
        datasets=DatasetsService(store, requests, limits),
        runs=RunsService(store, requests, limits),
        evaluations=EvaluationsService(store, requests, limits),
    )
    production = Production(
        deployments=DeploymentsService(store, requests, limits),
        inference=InferenceService(store, settings.inference_retention_days, limits),
    )
    lineage = Lineage(
        pipelines=PipelinesService(store, requests, limits),
        batches=BatchesService(store),
        graph=GraphService(store),
    )
    return (
        ServiceEntry(
            registry_service_pb2.DESCRIPTOR.services_by_name["RegistryService"],
            RegistryServicer(registry),
            permissions=permissions.REGISTRY,
            max_request_bytes=4 * 1024 * 1024,
        ),
        ServiceEntry(
            tracking_service_pb2.DESCRIPTOR.services_by_name["TrackingService"],
            TrackingServicer(tracking),
            permissions=permissions.TRACKING,
            # LogRunData's 100,000 points fit (about 3 MB with short keys); a larger
            # limit here would raise every family's memory exposure (the hard cap
            # gRPC core enforces before reading is twice the largest limit).
            max_request_bytes=4 * 1024 * 1024,
        ),
        ServiceEntry(
            production_service_pb2.DESCRIPTOR.services_by_name["ProductionService"],
            ProductionServicer(production),
            permissions=permissions.PRODUCTION,
            # A batch of 10,000 records of about 300 bytes each.
            max_request_bytes=4 * 1024 * 1024,
        ),
        ServiceEntry(
            lineage_service_pb2.DESCRIPTOR.services_by_name["LineageService"],
            LineageServicer(lineage),
            permissions=permissions.LINEAGE,
            # A step with 1,000 inputs and 1,000 outputs of long names fits.
            max_request_bytes=4 * 1024 * 1024,
        ),
        ServiceEntry(
            access_service_pb2.DESCRIPTOR.services_by_name["AccessService"],
            AccessServicer(AccessService(store)),
            permissions=permissions.ACCESS,
            # Keys are small: a description of 1,000 characters is the largest field.
            max_request_bytes=64 * 1024,
        ),
    )


ServiceTable = Callable[[Store], Sequence[ServiceEntry]]


@dataclass
class Running:
    """A started server; ``port`` is the bound port (useful with port 0)."""

    server: grpc.aio.Server
    health: HealthService
    probe: DatabaseProbe
    store: Store
    port: int
    embedded: EmbeddedPostgres | None
    service_names: tuple[str, ...]
    pipeline: calls.Pipeline
    upkeep: asyncio.Task[None] | None = None
    # The TLS port's certificates (None: plaintext); ``reload_tls`` rereads them.
    certificates: tls.ServerCertificates | None = None

    def reload_tls(self) -> bool:
        """Reread the TLS files (SIGHUP): new connections get them, open ones keep
        theirs. False when there is no TLS or a file was bad (logged; the previous
        certificate is kept)."""
        if self.certificates is None:
            log.info("SIGHUP: no TLS configured, nothing to reload")
            return False
        return self.certificates.reload()

    async def drain(self, seconds: float, hurry: asyncio.Event | None = None) -> None:
        """Health NOT_SERVING with the listener still open, for ``seconds`` or until
        ``hurry`` is set: time for load balancers to notice. Open streams end now:
        Watch streams after sending NOT_SERVING, the API's with UNAVAILABLE."""
        await self._end_streams()
        if seconds <= 0:
            return
        waiter = asyncio.Event() if hurry is None else hurry
        with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
            await asyncio.wait_for(waiter.wait(), seconds)

    async def _end_streams(self) -> None:
        await self.health.drain()
        ended = await self.pipeline.drain()
        if ended:
            log.info("drain: ended %d open stream(s)", ended)

    async def stop(self, grace: float) -> None:
        """Refuse new calls, let in-flight ones finish within ``grace``, close the database."""
        await self._end_streams()
        await self.probe.stop()
        if self.upkeep is not None:
            await cancel_and_wait(self.upkeep)
        await self.server.stop(grace)
        await self.store.close()
        if self.embedded is not None:
            await asyncio.to_thread(self.embedded.stop)


def _dsn(url: str) -> str:
    return async_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _upgrade(url: str) -> tuple[str | None, str | None]:
    """Migrations on an engine of their own, one connection, without the serving
    pools' statement timeout: building an index on a large table may take minutes."""
    engine = create_engine(url, pool_size=3, command_timeout=None)
    try:
        return await migrate.upgrade(engine)
    finally:
        await engine.dispose()


async def open_database(settings: Settings) -> tuple[Store, EmbeddedPostgres | None]:
    embedded = None
    url = settings.database_url
    if url is None:
        embedded = await asyncio.to_thread(start_embedded, settings.data_dir)
        url = embedded.url
    else:
        await wait_for_database(_dsn(url), settings.db_wait_s)
    engine = create_engine(url, pool_size=settings.db_pool_size)
    try:
        if embedded is not None or settings.migrate:
            before, after = await _upgrade(url)
            if before != after:
                log.info("schema upgraded from %s to %s", before, after)
        elif not await migrate.is_current(engine):
            current = await migrate.current_revision(engine) or "(empty)"
            raise SchemaOutdated(
                f"database schema is at {current}, this server "
                f"needs {migrate.head_revision()}: run `modelreg db upgrade` or start with "
                "--migrate"
            )
        page_tokens = await server_secrets.page_tokens(engine)  # every replica's shared key
    except BaseException:
        await engine.dispose()
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)
        raise
    return Store(engine, page_tokens), embedded


def build_server(
    settings: Settings, table: Sequence[ServiceEntry], store: Store | None = None
) -> tuple[grpc.aio.Server, calls.Pipeline]:
    auth = Authenticator(
        None if store is None else functools.partial(api_keys.find, store),
        enabled=settings.auth,
        cache_s=settings.auth_cache_s,
        rate_limit_rps=settings.rate_limit_rps,
        rate_limit_burst=settings.rate_limit_burst,
    )
    limits = calls.Limits(
        max_concurrent_rpcs=settings.max_concurrent_rpcs,
        request_memory_quota=settings.request_memory_quota,
        max_request_bytes=dict(settings.max_request_bytes),
    )
    pipeline = calls.Pipeline(
        limits, {calls.family(e.descriptor): e.max_request_bytes for e in table}, auth
    )
    for entry in table:
        pipeline.add(entry.descriptor, entry.servicer, entry.permissions)
    server = grpc.aio.server(
        handlers=(pipeline.generic_handler(),),
        options=[
            ("grpc.max_receive_message_length", pipeline.max_receive_bytes),
            ("grpc.max_send_message_length", settings.max_message_bytes),
            # Worker processes share one port; a lone server must not share it by accident.
            ("grpc.so_reuseport", 1 if settings.workers > 1 else 0),
            # Let SDK clients keep connections alive with pings (every 10 s by default,
            # idle or not) so they notice a dead one; without these the server answers
            # pings more often than every 5 min with GOAWAY "too_many_pings".
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.min_ping_interval_without_data_ms", 1000),
            ("grpc.http2.max_ping_strikes", 5),
        ],
    )
    return server, pipeline


async def inference_upkeep(store: Store, retention_days: int, every_s: float) -> None:
    """The inference tables' upkeep (storage/inference_retention.py), now and every
    ``every_s`` seconds until cancelled; a failed round is logged and retried at the
    next."""
    while True:
        try:
            done = await inference_retention.maintain(
                store, retention_days, datetime.now(timezone.utc)
            )
        except Exception:
            log.warning("inference upkeep failed; next try in %.0f s", every_s, exc_info=True)
        else:
            if done is not None and (done.created or done.dropped):
                log.info(
                    "inference upkeep: made %s, dropped %s, %d rollups deleted",
                    ", ".join(done.created) or "no partition",
                    ", ".join(done.dropped) or "no partition",
                    done.rollups_deleted,
                )
        await asyncio.sleep(every_s)


def insecure_warning(settings: Settings) -> str | None:
    """What an explicit ``--insecure`` without auth says at start and in every health
    check (trailing metadata ``modelreg-warning``); None otherwise."""
    if not settings.insecure or settings.auth:
        return None
    where = "the network" if not is_loopback(settings.listen) else "this host"
    plain = "" if settings.tls_cert is not None else ", in plaintext"
    return (
        f"--insecure: serving {settings.listen} without API keys{plain}: anyone who can "
        f"reach it from {where} can read and change the registry"
    )


async def start(settings: Settings, table: ServiceTable = services) -> Running:
    """Open the database and serve ``table`` (the real one unless a test adds to it)."""
    # Bad TLS files are a startup error naming the file, before the database is touched.
    certificates = tls.from_settings(settings.tls_cert, settings.tls_key, settings.tls_client_ca)
    warning = insecure_warning(settings)
    if warning is not None:
        log.warning("%s", warning)
    store, embedded = await open_database(settings)
    if settings.bootstrap_key_file is not None:
        try:
            await bootstrap.from_file(store, settings.bootstrap_key_file)
        except BaseException:
            await store.close()
            if embedded is not None:
                await asyncio.to_thread(embedded.stop)
            raise
    # The real table gets the settings its services need; a test's own keeps its defaults.
    entries = services(store, settings) if table is services else table(store)
    server, pipeline = build_server(settings, entries, store)
    names = tuple(e.name for e in entries)
    health = HealthService(names, warning=warning)
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    reflection.enable(server, (*names, HEALTH_SERVICE))
    probe = DatabaseProbe(
        _dsn(str(store.engine.url.render_as_string(hide_password=False))),
        health,
        interval=settings.health_interval_s,
        timeout=settings.health_timeout_s,
        on_change=metrics.set_db_up,
        on_tick=lambda: metrics.observe_pool(store.pool_stats()),
    )
    try:
        if certificates is None:
            port = server.add_insecure_port(settings.listen)
        else:
            port = server.add_secure_port(settings.listen, certificates.credentials())
        await server.start()
    except BaseException:
        await store.close()
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)
        raise
    # The database answered a moment ago (schema check); the probe watches it from here.
    await health.set_all(True)
    metrics.set_db_up(True)
    probe.start()
    upkeep = asyncio.create_task(
        inference_upkeep(store, settings.inference_retention_days, INFERENCE_UPKEEP_S),
        name="inference-upkeep",
    )
    return Running(
        server, health, probe, store, port, embedded, names, pipeline, upkeep, certificates
    )


async def serve(settings: Settings, on_ready: Callable[[int], None] | None = None) -> None:
    """Run until SIGTERM or SIGINT, then stop.

    SIGTERM drains first: health goes NOT_SERVING at once while the listener stays
    open for ``shutdown_drain_s`` (a second signal cuts it short), so a load balancer
    sees it; then new calls are refused and in-flight ones get ``shutdown_grace_s``.
    SIGINT (Ctrl-C) skips the drain. SIGHUP rereads the TLS files (rotation): new
    connections get the new certificate, open ones and their streams carry on.
    """
    loop = asyncio.get_running_loop()
    current: list[Running] = []

    def on_hangup() -> None:
        # Before start() has read the files there is nothing to reload: it reads the new ones.
        if current:
            current[0].reload_tls()

    loop.add_signal_handler(signal.SIGHUP, on_hangup)
    try:
        running = await start(settings)
    except BaseException:
        loop.remove_signal_handler(signal.SIGHUP)
        raise
    current.append(running)
    stop = asyncio.Event()
    hurry = asyncio.Event()
    received: list[signal.Signals] = []

    def on_signal(sig: signal.Signals) -> None:
        if stop.is_set():
            hurry.set()
            return
        received.append(sig)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)
    exporter = None
    if settings.metrics_listen is not None and settings.workers == 1:
        # With workers the supervisor serves the metrics of all of them (workers.py).
        exporter = metrics.start_metrics_server(settings.metrics_listen)
    if on_ready is not None:
        on_ready(running.port)
    else:
        log.info("modelreg serving on %s:%d", settings.listen.rpartition(":")[0], running.port)
    try:
        await stop.wait()
    finally:
        if received and received[0] == signal.SIGTERM and settings.shutdown_drain_s > 0:
            log.info(
                "draining: health NOT_SERVING, still accepting calls for %.1fs",
                settings.shutdown_drain_s,
            )
            await running.drain(settings.shutdown_drain_s, hurry)
        log.info("shutting down (grace %.1fs)", settings.shutdown_grace_s)
        await running.stop(settings.shutdown_grace_s)
        if exporter is not None:
            exporter.stop()
        log.info("stopped")
