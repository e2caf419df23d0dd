"""The inference logger's buffer and options: what ``log()`` appends to and what the
background sender (``_inference_sender``) drains, with the counters both keep.

Only ``log()`` touches ``raw`` from the serving threads, with a lock-free ``append``
(atomic under the GIL); everything else here is guarded by ``lock`` and changed by the
sender, except ``dropped_full``, which ``log()`` counts under ``drop_lock`` (the rare
full-buffer path).
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from modelreg._inference_types import LoggerStats
from modelreg._settings import DEFAULT_KEEPALIVE_S

# What log() appends: (record_id, event_time as ns since the epoch or a datetime,
# inputs, outputs, prediction, latency_ms, request_id, attributes), unencoded.
Raw = tuple[str, "int | datetime", Any, Any, Any, Any, Any, Any]

ON_FULL = ("drop", "block")


@dataclass(frozen=True)
class LoggerOptions:
    """How an inference logger buffers and sends (``client.inference_logger(**options)``).

    Attributes:
        max_buffer_records: records held at most, logged and not yet acknowledged.
        max_buffer_bytes: encoded bytes held at most (records still waiting to be
            encoded, at most one ``flush_interval_s`` of them, count by number only).
        batch_records: records per batch at most (the server takes up to 10,000).
        batch_bytes: encoded bytes of a batch's records at most; well under the server's
            request limit (MODELREG_MAX_REQUEST_BYTES_PRODUCTION, 4 MiB by default). A
            record larger than this alone is not sent (counted as invalid).
        flush_interval_s: a record waits at most this long for its batch to fill.
        max_in_flight: batches sent and not yet acknowledged, at most.
        on_full: ``"drop"`` (the newest record is dropped and counted) or ``"block"``
            (``log()`` waits up to ``block_timeout_s`` for room, then drops).
        block_timeout_s: the longest ``log()`` blocks with ``on_full="block"``.
        ack_timeout_s: a batch not acknowledged this long after it was sent makes the
            logger drop the stream and resend on a new one.
        initial_backoff_s: first pause before reconnecting; doubles per failure,
            jittered, up to ``max_backoff_s``; reset by the first acknowledgement.
        max_backoff_s: cap of that pause.
        exit_timeout_s: how long the flush at interpreter exit may take.
        keepalive_s: HTTP/2 keepalive interval of the logger's own channel.
    """

    max_buffer_records: int = 100_000
    max_buffer_bytes: int = 256 * 1024 * 1024
    batch_records: int = 5_000
    batch_bytes: int = 1024 * 1024
    flush_interval_s: float = 0.2
    max_in_flight: int = 4
    on_full: str = "drop"
    block_timeout_s: float = 1.0
    ack_timeout_s: float = 30.0
    initial_backoff_s: float = 0.05
    max_backoff_s: float = 2.0
    exit_timeout_s: float = 10.0
    keepalive_s: float = DEFAULT_KEEPALIVE_S

    def __post_init__(self) -> None:
        if self.on_full not in ON_FULL:
            raise ValueError(f"on_full must be 'drop' or 'block', got {self.on_full!r}")
        if not 1 <= self.batch_records <= 10_000:
            raise ValueError(f"batch_records must be 1..10000, got {self.batch_records}")
        for name in ("max_buffer_records", "max_buffer_bytes", "batch_bytes", "max_in_flight"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("flush_interval_s", "ack_timeout_s", "initial_backoff_s", "max_backoff_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")


class Batch:
    """A built batch: an encoded ``WriteInferenceRecordsRequest``, kept (and resent
    unchanged: same record ids and event times) until the server acknowledges it."""

    __slots__ = ("count", "nbytes", "payload", "sends", "seq")

    def __init__(self, payload: bytes, seq: int, count: int) -> None:
        self.payload = payload
        self.seq = seq
        self.count = count
        self.nbytes = len(payload)
        self.sends = 0


class Buffer:
    """The records of one logger (one process): unencoded ones in ``raw``, built
    batches in ``batches`` (by sequence number, oldest first), and the counters."""

    def __init__(self, options: LoggerOptions) -> None:
        self.options = options
        self.raw: deque[Raw] = deque()
        self.lock = threading.Lock()
        # Notified (under lock) whenever records are acknowledged or dropped: flush waits.
        self.settled = threading.Condition(self.lock)
        # Notified when room is made: log() with on_full="block" waits here.
        self.room = threading.Condition(threading.Lock())
        # Set to wake the sender: a batch is full, a flush or close was asked for.
        self.wake = threading.Event()
        self.drop_lock = threading.Lock()
        self.batches: deque[Batch] = deque()
        self.next_seq = 1
        # Records in built batches, and their encoded size; log() reads these unlocked.
        self.held = 0
        self.held_bytes = 0
        self.taken = 0  # records moved out of raw, ever
        self.acked = 0
        self.accepted = 0
        self.duplicates = 0
        self.rejected = 0
        self.dropped_full = 0
        self.invalid = 0
        self.failed = 0
        self.batches_acked = 0
        self.resent = 0
        self.reconnects = 0
        self.last_error = ""
        # Flushes asked for and not yet served: the sender builds a partial batch.
        self.flushing = 0
        self.closing = False
        self.stopped = False

    def full(self) -> bool:
        """Whether there is no room for one more record (read without the lock)."""
        opts = self.options
        return (
            len(self.raw) + self.held >= opts.max_buffer_records
            or self.held_bytes >= opts.max_buffer_bytes
        )

    def count_drop(self) -> None:
        with self.drop_lock:
            self.dropped_full += 1

    def settled_count_locked(self) -> int:
        """Records acknowledged or dropped (call with ``lock`` held)."""
        return self.acked + self.dropped_full + self.invalid + self.failed

    def idle_locked(self) -> bool:
        return not self.raw and not self.batches

    def stats(self) -> LoggerStats:
        with self.lock:
            dropped_full = self.dropped_full
            dropped = dropped_full + self.invalid + self.failed
            in_buffer = self.taken + len(self.raw)
            logged = in_buffer + dropped_full
            return LoggerStats(
                logged=logged,
                acked=self.acked,
                dropped=dropped,
                pending=logged - self.acked - dropped,
                rejected=self.rejected,
                accepted=self.accepted,
                duplicates=self.duplicates,
                dropped_full=dropped_full,
                invalid=self.invalid,
                failed=self.failed,
                batches=self.batches_acked,
                resent=self.resent,
                reconnects=self.reconnects,
                last_error=self.last_error,
            )
