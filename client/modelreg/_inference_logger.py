"""InferenceLogger and AsyncInferenceLogger: log every prediction a serving process
makes, tagged with the exact model version, without slowing the serving path.

    logger = client.inference_logger("translate_kr2en", "translate_kr2en",
                                     alias="production", deployment="prod")
    logger.version                       # resolved once: stamp it into your response
    rid = logger.log(inputs={"text": "..."}, outputs={"text": "..."},
                     prediction="positive", latency_ms=12.5, request_id="req-123")

``log()`` appends a tuple to a bounded in-memory buffer and returns the record's id; it
never blocks (unless ``on_full="block"`` was asked for) and never raises: arguments
that cannot be encoded (inputs that are not JSON-serialisable, a naive ``event_time``, a
prediction that is neither a str nor a number) are found by the background thread, which
skips the record, counts it in ``stats().invalid`` (part of ``dropped``) and logs a
warning the first time. Records the server refuses one by one (an unknown version, a
bad attribute key) count as ``rejected`` (acknowledged, not stored).

The background thread (``_inference_sender``) encodes inputs and outputs as JSON, builds
the protobuf batches, streams them with a few in flight, and resends what was not
acknowledged after a reconnect; the server deduplicates by record id and event time, so
each record is stored once. Both loggers send from a thread with a sync gRPC channel of
their own: ``AsyncInferenceLogger`` differs only in awaiting ``flush`` and ``close``
(so an event loop is never blocked by them, and the logger works from any thread and at
interpreter exit, where an event loop may be gone).

Record ids are UUIDv4s made without a system call: 74 random bits per logger (and per
forked child), then a 48-bit counter in the last group.

The logger keeps references to ``inputs``, ``outputs`` and ``attributes`` until the
background thread encodes them (within ``flush_interval_s``): do not change them after
``log()``.

Fork safety: a forked child starts with an empty buffer, zeroed counters, a fresh writer
id and record-id prefix; its own channel and thread are made on its first ``log()``. Its
records are sent when it calls ``flush()``/``close()`` or at its exit (``os._exit``, as
multiprocessing workers end, skips that: call ``close()`` first).
"""

from __future__ import annotations

import asyncio
import atexit
import itertools
import logging
import os
import threading
import time
import uuid
import weakref
from datetime import datetime
from types import TracebackType
from typing import Any

from modelreg._inference_buffer import Buffer, LoggerOptions
from modelreg._inference_sender import Sender
from modelreg._inference_types import LoggerStats
from modelreg._settings import Security

log = logging.getLogger("modelreg.inference_logger")

_time_ns = time.time_ns
# How long close() (and leaving a ``with`` block) flushes by default.
CLOSE_TIMEOUT_S = 30.0
# Loggers not yet closed: closed at exit, and reset in a forked child.
_live: weakref.WeakSet[_LoggerBase] = weakref.WeakSet()
# A forked child never touches (nor frees) its parent's senders, channels and locks.
_orphans: list[object] = []


def _abandon(buffer: Buffer, sender: Sender) -> None:
    """A logger was garbage-collected unclosed: let its thread send what it holds, then end."""
    with buffer.lock:
        buffer.closing = True
    buffer.wake.set()


class _LoggerBase:
    """What both loggers share: the buffer, ``log()``, ``stats()``, fork and exit handling."""

    def __init__(
        self,
        target: str,
        project: str,
        model: str,
        version: int,
        *,
        deployment: str = "",
        options: LoggerOptions | None = None,
        security: Security | None = None,
    ) -> None:
        self.target = target
        # The API key and TLS material (read once: a forked child reuses them).
        self.security = security or Security()
        self.project = project
        self.model = model
        self.version = version
        self.deployment = deployment
        self.options = options or LoggerOptions()
        self._batch_records = self.options.batch_records
        self._max_records = self.options.max_buffer_records
        self._max_bytes = self.options.max_buffer_bytes
        self._closed = False
        self._drop_warned = False
        self._fresh()
        _live.add(self)
        self._start()

    def _fresh(self) -> None:
        """A new identity and an empty buffer; no thread yet."""
        prefix = str(uuid.uuid4())
        self.writer_id = prefix.replace("-", "")
        self._prefix = prefix[:24]  # 8-4-4-4 and the dash: version and variant bits kept
        self._ids = itertools.count()
        self._buf = Buffer(self.options)
        self._raw = self._buf.raw
        self._wake = self._buf.wake
        self._sender: Sender | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._running = False

    def _start(self) -> None:
        self._sender = Sender(
            self._buf,
            self.target,
            project=self.project,
            model=self.model,
            version=self.version,
            deployment=self.deployment,
            writer_id=self.writer_id,
            security=self.security,
        )
        self._finalizer = weakref.finalize(self, _abandon, self._buf, self._sender)
        self._finalizer.atexit = False
        self._sender.start()
        self._running = True

    def log(
        self,
        *,
        inputs: Any = None,
        outputs: Any = None,
        prediction: str | float | None = None,
        latency_ms: float | None = None,
        request_id: str | None = None,
        attributes: dict[str, str] | None = None,
        event_time: datetime | None = None,
    ) -> str:
        """Buffer one inference record; returns its record id (a UUID string).

        Never raises and never blocks (with ``on_full="block"``: at most
        ``block_timeout_s`` while the buffer is full). See the module's notes on what
        happens to bad arguments.

        Args:
            inputs: the model's input, JSON-serialisable (or JSON ``bytes``).
            outputs: the model's output, likewise.
            prediction: a label (``str``, scored with accuracy) or a number (scored with
                MAE and RMSE); a bool is the label ``"true"``/``"false"``.
            latency_ms: how long the prediction took.
            request_id: the serving request's id (feedback may name it).
            attributes: strings to slice metrics by, e.g. ``{"country": "kr"}``.
            event_time: when the prediction was made (timezone-aware); now if None.
        """
        if not self._running:
            return self._log_slow(
                inputs, outputs, prediction, latency_ms, request_id, attributes, event_time
            )
        rid = self._prefix + "%012x" % next(self._ids)  # noqa: UP031 (2x faster than format)
        raw = self._raw
        buf = self._buf
        if (
            len(raw) + buf.held >= self._max_records or buf.held_bytes >= self._max_bytes
        ) and not self._make_room():
            return rid
        raw.append(
            (
                rid,
                _time_ns() if event_time is None else event_time,
                inputs,
                outputs,
                prediction,
                latency_ms,
                request_id,
                attributes,
            )
        )
        if len(raw) >= self._batch_records and not self._wake.is_set():
            self._wake.set()
        return rid

    def _log_slow(self, *args: Any) -> str:
        if self._closed:
            rid = self._prefix + "%012x" % next(self._ids)  # noqa: UP031 (2x faster than format)
            with self._buf.lock:
                self._buf.failed += 1
                self._buf.taken += 1
            if not self._drop_warned:
                self._drop_warned = True
                log.warning("inference logger %s: log() after close(): dropped", self.writer_id)
            return rid
        # A forked child's first log(): its own thread and channel, from now on.
        with self._buf.lock:
            if not self._running:
                self._start()
        return self.log(
            inputs=args[0],
            outputs=args[1],
            prediction=args[2],
            latency_ms=args[3],
            request_id=args[4],
            attributes=args[5],
            event_time=args[6],
        )

    def _make_room(self) -> bool:
        """The buffer is full: wait for room (on_full="block"), or count the drop."""
        buf = self._buf
        opts = self.options
        if opts.on_full == "block":
            deadline = time.monotonic() + opts.block_timeout_s
            buf.wake.set()
            with buf.room:
                while buf.full():
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    buf.room.wait(min(left, 0.05))
                else:
                    return True
        buf.count_drop()
        if not self._drop_warned:
            self._drop_warned = True
            log.warning(
                "inference logger %s: buffer full (%d records or %d bytes): dropping records "
                "(counted in stats().dropped_full; logged once)",
                self.writer_id,
                opts.max_buffer_records,
                opts.max_buffer_bytes,
            )
        return False

    def stats(self) -> LoggerStats:
        """Counters: logged, acked, dropped, pending, rejected, and their breakdown."""
        return self._buf.stats()

    @property
    def closed(self) -> bool:
        return self._closed

    def _flush(self, timeout: float | None) -> bool:
        buf = self._buf
        if self._sender is None:
            return True
        with buf.lock:
            target = buf.taken + len(buf.raw)
            buf.flushing += 1
        buf.wake.set()
        with buf.lock:
            return (
                buf.settled.wait_for(
                    lambda: buf.acked + buf.invalid + buf.failed >= target or buf.stopped, timeout
                )
                and not buf.stopped
            )

    def _close(self, timeout: float | None) -> bool:
        if self._closed:
            return True
        self._closed = True
        self._running = False
        _live.discard(self)
        buf = self._buf
        sender = self._sender
        if sender is None:
            return True
        if self._finalizer is not None:
            self._finalizer.detach()
        with buf.lock:
            buf.closing = True
        flushed = self._flush(timeout)
        sender.stop()
        with buf.lock:
            # What could not be sent in time is given up, and counted.
            buf.taken += len(buf.raw)
            buf.raw.clear()
            buf.batches.clear()
            buf.held = buf.held_bytes = 0
            lost = buf.taken - buf.acked - buf.invalid - buf.failed
            if lost:
                buf.failed += lost
                log.warning(
                    "inference logger %s: closed with %d records unacknowledged (%s)",
                    self.writer_id,
                    lost,
                    buf.last_error or "timeout",
                )
            buf.settled.notify_all()
        return flushed

    def _reset_in_child(self) -> None:
        _orphans.append((self._buf, self._sender, self._finalizer))
        if self._finalizer is not None:
            self._finalizer.detach()
        self._drop_warned = False
        self._fresh()


class InferenceLogger(_LoggerBase):
    """Logs inference records from a serving process; made by ``client.inference_logger``.

    ``version`` is the exact version it tags records with, resolved once when it was
    made. ``log()`` buffers a record and returns its id; a background thread sends
    them. Use it as a context manager, or call :meth:`close` (also done at exit).
    """

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every record logged before this call is acknowledged or dropped;
        False if ``timeout`` (seconds) passed first."""
        return self._flush(timeout)

    def close(self, timeout: float | None = CLOSE_TIMEOUT_S) -> bool:
        """Flush (up to ``timeout`` seconds: 30 by default, so that a serving process
        shuts down even with no server to flush to; None waits as long as it takes),
        then stop the thread and close the channel. Records still unacknowledged are
        given up and counted as ``dropped`` (``failed``). Returns whether everything was
        flushed. Closing twice does nothing."""
        return self._close(timeout)

    def __enter__(self) -> InferenceLogger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncInferenceLogger(_LoggerBase):
    """The inference logger of an asyncio server; made by ``await
    client.inference_logger(...)``. ``log()`` and ``stats()`` are plain calls (``log()``
    never blocks the event loop unless ``on_full="block"``); ``flush`` and ``close`` are
    awaited, waiting in a worker thread."""

    async def flush(self, timeout: float | None = None) -> bool:
        """Wait until every record logged before this call is acknowledged or dropped;
        False if ``timeout`` (seconds) passed first."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self._flush, timeout)

    async def close(self, timeout: float | None = CLOSE_TIMEOUT_S) -> bool:
        """Flush (up to ``timeout`` seconds: 30 by default, so that a serving process
        shuts down even with no server to flush to; None waits as long as it takes),
        then stop the thread and close the channel. Records still unacknowledged are
        given up and counted as ``dropped`` (``failed``). Returns whether everything was
        flushed. Closing twice does nothing."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self._close, timeout)

    async def __aenter__(self) -> AsyncInferenceLogger:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def _close_all_at_exit() -> None:
    for logger in list(_live):
        try:
            logger._close(logger.options.exit_timeout_s)
        except Exception:  # never let one logger keep the others from flushing
            log.exception("inference logger %s: close at exit failed", logger.writer_id)


_held_at_fork: list[threading.Lock] = []


def _before_fork() -> None:
    # Hold every buffer's lock across fork(), so the child's copy is never mid-change.
    for logger in list(_live):
        lock = logger._buf.lock
        lock.acquire()
        _held_at_fork.append(lock)


def _after_fork_in_parent() -> None:
    while _held_at_fork:
        _held_at_fork.pop().release()


def _after_fork_in_child() -> None:
    _orphans.extend(_held_at_fork)  # locked for good; the child uses fresh ones
    _held_at_fork.clear()
    for logger in list(_live):
        logger._reset_in_child()


atexit.register(_close_all_at_exit)
os.register_at_fork(
    before=_before_fork,
    after_in_parent=_after_fork_in_parent,
    after_in_child=_after_fork_in_child,
)
