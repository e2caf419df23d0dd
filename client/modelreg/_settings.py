"""Connection settings shared by Client and AsyncClient."""

from __future__ import annotations

import getpass
import os
import random
from dataclasses import dataclass

DEFAULT_TARGET = "127.0.0.1:50051"
ACTOR_METADATA = "modelreg-actor"


def default_target() -> str:
    return os.environ.get("MODELREG_TARGET") or DEFAULT_TARGET


def default_actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


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
