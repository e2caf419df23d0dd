"""Prometheus metrics of the server and their HTTP endpoint (``--metrics-listen``).

The metric objects live in prometheus_client's default registry. With worker
processes, set ``PROMETHEUS_MULTIPROC_DIR`` (an empty directory) before the
server starts: every process then writes its values there and the endpoint sums
them (``multiprocess.MultiProcessCollector``); gauges say how (``livesum`` for
counts of live things, ``livemax`` for the database being up).

Per call (transport/calls.py): ``modelreg_rpc_calls_total{method,code}``,
``modelreg_rpc_duration_seconds{method,code}``, ``modelreg_rpc_in_flight{method}``;
``method`` is ``Service/Method`` (``RegistryService/GetProject``), ``code`` the
status code's name, or ``NOT_RECEIVED`` when the request never reached the server's
code (gRPC core refused it as too large, or the client gave up while sending it).
Set from a background task of the server: ``modelreg_db_connections{state}``
(``observe_pool``) and ``modelreg_db_up`` (``set_db_up``)."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    multiprocess,
    start_http_server,
)

from modelreg_server.config import listen_host

if TYPE_CHECKING:
    from modelreg_server.storage.store import PoolStats

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Seconds; from well under a bare echo call to a slow listing.
DURATION_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip

RPC_CALLS = Counter(
    "modelreg_rpc_calls", "RPCs finished, by method and status code.", ("method", "code")
)
RPC_DURATION = Histogram(
    "modelreg_rpc_duration_seconds",
    "Time from admission to the end of the call, by method and status code.",
    ("method", "code"),
    buckets=DURATION_BUCKETS,
)
RPC_IN_FLIGHT = Gauge(
    "modelreg_rpc_in_flight",
    "RPCs admitted and not finished, by method.",
    ("method",),
    multiprocess_mode="livesum",
)
DB_CONNECTIONS = Gauge(
    "modelreg_db_connections",
    "Database connections held by the server, in use or idle.",
    ("state",),
    multiprocess_mode="livesum",
)
DB_UP = Gauge(
    "modelreg_db_up",
    "1 if the database answered the last check of a live server process, else 0.",
    # max, not min: the supervisor and the metrics process hold a 0 of their own.
    multiprocess_mode="livemax",
)
AUTH_DENIED = Counter(
    "modelreg_auth_denied",
    "Calls refused by authentication, authorization or a key's rate limit, by method and reason.",
    ("method", "reason"),
)
API_KEY_EVENTS = Counter(
    "modelreg_api_key_events", "API keys created and revoked, by event.", ("event",)
)

# The series exist (at 0) from the start; see transport/calls.py for why it matters
# in multiprocess mode.
for _state in ("in_use", "idle"):
    DB_CONNECTIONS.labels(_state)
for _event in ("created", "revoked"):
    API_KEY_EVENTS.labels(_event)


def observe_pool(stats: PoolStats) -> None:
    """Record ``Store.pool_stats()``."""
    DB_CONNECTIONS.labels("in_use").set(stats.in_use)
    DB_CONNECTIONS.labels("idle").set(stats.idle)


def set_db_up(up: bool) -> None:
    DB_UP.set(1 if up else 0)


def mark_process_dead(pid: int) -> None:
    """For the parent of worker processes: drop a dead worker's live gauges."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


@dataclass
class MetricsServer:
    """The HTTP endpoint; ``port`` is the bound port (useful with port 0)."""

    server: WSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def start_metrics_server(listen: str) -> MetricsServer:
    """Serve the Prometheus text format on ``listen`` (host:port) in a thread.

    In multiprocess mode (``PROMETHEUS_MULTIPROC_DIR`` set) the endpoint reports
    the sum over every process writing to that directory."""
    host = listen_host(listen)
    port = int(listen.rpartition(":")[2])
    registry: CollectorRegistry = REGISTRY
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    server, thread = start_http_server(port, addr=host, registry=registry)
    return MetricsServer(server, thread)
