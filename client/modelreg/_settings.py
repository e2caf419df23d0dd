"""Connection settings shared by Client and AsyncClient."""

from __future__ import annotations

import getpass
import os
import random
from dataclasses import dataclass

DEFAULT_TARGET = "127.0.0.1:50051"
ACTOR_METADATA = "modelreg-actor"
# Page size of the list iterators when the caller passes none (0); the server caps pages at 1000.
DEFAULT_PAGE_SIZE = 500


def default_target() -> str:
    return os.environ.get("MODELREG_TARGET") or DEFAULT_TARGET


def _printable_ascii(value: str) -> bool:
    return value.isascii() and value.isprintable() and 0 < len(value) <= 256


def default_actor() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
    return user if _printable_ascii(user) else "unknown"


def check_actor(actor: str | None) -> str:
    """The actor travels in gRPC metadata, which carries printable ASCII only."""
    if actor is None:
        return default_actor()
    if not _printable_ascii(actor):
        raise ValueError(f"actor must be 1-256 printable ASCII characters, got {actor!r}")
    return actor


@dataclass(frozen=True)
class RetryPolicy:
    """How a failed call is retried: UNAVAILABLE, DEADLINE_EXCEEDED and CANCELLED (by
    the server, e.g. as it shuts down), with jittered exponential backoff, until
    ``total_timeout_s`` is spent.

    The default budget (30 s) outlasts a restart of the server or of its database.
    Each attempt gets a fresh deadline, the client's ``timeout`` (cut short by what
    is left of the budget); no backoff sleeps past the budget. Reads (Get/List) are
    idempotent; mutations are safe to retry because the request, with its
    ``request_id``, is built once per logical call and sent again unchanged, so the
    server applies it at most once. When the budget (or ``max_attempts``) runs out
    the last error is raised; for a mutation it carries ``.request_id``: call again
    with that id (every mutating method takes ``request_id=err.request_id``) and a
    mutation that did land is returned instead of being applied twice.

    Attributes:
        max_attempts: attempts per call at most; None means as many as the budget allows.
        initial_backoff_s: sleep ceiling before the first retry.
        max_backoff_s: cap of the sleep between attempts.
        multiplier: growth of the sleep ceiling per attempt.
        total_timeout_s: budget of one logical call, attempts and sleeps together.
    """

    max_attempts: int | None = None
    initial_backoff_s: float = 0.05
    max_backoff_s: float = 1.0
    multiplier: float = 2.0
    total_timeout_s: float = 30.0

    def backoff(self, attempt: int) -> float:
        ceiling = min(self.max_backoff_s, self.initial_backoff_s * self.multiplier**attempt)
        return random.uniform(ceiling / 2, ceiling)

    def may_retry(self, attempts_made: int) -> bool:
        return self.max_attempts is None or attempts_made < self.max_attempts


# Keepalive: a ping every DEFAULT_KEEPALIVE_S on an open connection, idle or not; no ack
# within KEEPALIVE_TIMEOUT_S (or the interval, if shorter) and the connection is
# dropped, so a silently dead one (a black-holed NAT entry, a frozen peer) fails the
# calls on it with UNAVAILABLE, which are retried on a new connection. The server
# permits pings this frequent (app.build_server).
DEFAULT_KEEPALIVE_S = 10.0
KEEPALIVE_TIMEOUT_S = 5.0


def channel_options(keepalive_s: float = DEFAULT_KEEPALIVE_S) -> tuple[tuple[str, int], ...]:
    """The options of every channel the SDK opens."""
    keepalive_ms = max(1, round(keepalive_s * 1000))
    timeout_ms = min(round(KEEPALIVE_TIMEOUT_S * 1000), keepalive_ms)
    return (
        ("grpc.max_receive_message_length", 16 * 1024 * 1024),
        ("grpc.max_send_message_length", 16 * 1024 * 1024),
        # The SDK retries, with its own budget; grpc's retries would multiply it.
        ("grpc.enable_retries", 0),
        ("grpc.keepalive_time_ms", keepalive_ms),
        ("grpc.keepalive_timeout_ms", timeout_ms),
        # Newer grpc cores time a keepalive ping out with the general ping timeout.
        ("grpc.http2.ping_timeout_ms", timeout_ms),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
        # Reconnect quickly after an outage: grpc's default backoff grows to 120 s,
        # during which every attempt fails at once without dialling.
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.min_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", 1000),
    )


CHANNEL_OPTIONS = channel_options()
