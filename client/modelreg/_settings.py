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
    """Retries of UNAVAILABLE with jittered exponential backoff.

    Mutations are safe to retry: the request (and its request_id) is built once
    per logical call and sent again unchanged.
    """

    max_attempts: int = 5
    initial_backoff_s: float = 0.05
    max_backoff_s: float = 2.0
    multiplier: float = 2.0

    def backoff(self, attempt: int) -> float:
        ceiling = min(self.max_backoff_s, self.initial_backoff_s * self.multiplier**attempt)
        return random.uniform(ceiling / 2, ceiling)


CHANNEL_OPTIONS = (
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
    ("grpc.max_send_message_length", 16 * 1024 * 1024),
    ("grpc.enable_retries", 0),
)
