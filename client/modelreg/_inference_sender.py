"""The inference logger's background thread: it encodes buffered records into batches,
streams them over ``WriteInferenceRecords`` with a few in flight, matches the in-order
acknowledgements, and after a broken stream reconnects with jittered exponential backoff
and resends every unacknowledged batch unchanged (same record ids and event times, so the
server stores each record once).

Two threads per logger: this one, which opens the stream and reads the acknowledgements,
and grpc's own request-consuming thread, which runs ``_requests`` (building and handing
out batches as they are ready and the in-flight window allows). Both work under the
buffer's lock; ``log()`` never takes it.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from modelreg import _inference_wire as wire
from modelreg._inference_buffer import Batch, Buffer
from modelreg._settings import Security
from modelreg._transport import open_channel
from modelreg.api.v1 import production_service_pb2 as prod

log = logging.getLogger("modelreg.inference_logger")

_METHOD = "/modelreg.api.v1.ProductionService/WriteInferenceRecords"
# Worth another stream: the server went away, restarted or is overloaded, its database
# is down, or the stream was cut (by us, after an acknowledgement timed out).
_RETRIED = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
    }
)
# Retried too, but a batch that keeps failing with these is given up on (a bug on
# either side should not stall the logger forever).
_SUSPECT = frozenset({grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN})
_SUSPECT_ATTEMPTS = 5
# RESOURCE_EXHAUSTED is retried (the server is busy) unless a request was over the
# server's size limit (batch_bytes set above it): that batch would never go through.
_TOO_LARGE = "MODELREG_MAX_REQUEST_BYTES"
Stream = Callable[..., Any]  # (requests: Iterator[bytes], *, metadata) -> the call


class Session:
    """One stream: the batches sent on it and not yet acknowledged are the first
    ``in_flight`` of the buffer's batches (acknowledgements come in order)."""

    def __init__(self) -> None:
        self.dead = False
        self.in_flight = 0
        self.sent_at: deque[float] = deque()
        self.call: Any = None


class Sender:
    """The background side of one logger; ``start()`` it once, ``stop()`` it once."""

    def __init__(
        self,
        buffer: Buffer,
        target: str,
        *,
        project: str,
        model: str,
        version: int,
        deployment: str,
        writer_id: str,
        security: Security | None = None,
    ) -> None:
        self._buf = buffer
        self._security = security or Security()
        self._opts = buffer.options
        self._target = target
        self._parent = f"projects/{project}"
        self._encoder = wire.RecordEncoder(model, version, deployment)
        self.writer_id = writer_id
        self._thread = threading.Thread(
            target=self._run, name=f"modelreg-inference-logger-{writer_id[:8]}", daemon=True
        )
        self._stop = threading.Event()
        self._session: Session | None = None
        self._channel: grpc.Channel | None = None
        self._first_seen: float | None = None  # when raw was first seen non-empty
        self._failures = 0
        self._suspect: tuple[int, int] = (0, 0)  # (head batch seq, suspect failures)
        self._warned = False

    def start(self) -> None:
        self._thread.start()

    def stop(self, join_timeout: float = 5.0) -> None:
        """Stop sending; what is not acknowledged stays pending. A closing logger with
        nothing left to send first lets its stream end by itself (a half-close the
        server answers with OK) for up to ``join_timeout`` seconds; else the stream is
        cancelled at once."""
        buf = self._buf
        ours = threading.current_thread() is self._thread
        with buf.lock:
            settled = buf.closing and buf.idle_locked()
        if settled and not ours and self._thread.is_alive():
            buf.wake.set()
            self._thread.join(join_timeout)
        with buf.lock:
            buf.stopped = True
            session = self._session
        self._stop.set()
        buf.wake.set()
        if session is not None and session.call is not None:
            session.call.cancel()
        if self._thread.is_alive() and not ours:
            self._thread.join(join_timeout)

    # The thread: streams, acknowledgements, backoff.

    def _run(self) -> None:
        buf = self._buf
        try:
            self._channel = open_channel(self._target, self._opts.keepalive_s, self._security)
            # Requests go out already encoded (see _inference_wire): no serializer.
            stream: Stream = self._channel.stream_stream(
                _METHOD,
                request_serializer=None,
                response_deserializer=prod.WriteInferenceRecordsResponse.FromString,
            )
            first = True
            while True:
                with buf.lock:
                    if buf.stopped or (buf.closing and buf.idle_locked()):
                        return
                if not self._has_work():
                    buf.wake.wait(self._opts.flush_interval_s)
                    buf.wake.clear()
                    continue
                if not first:
                    with buf.lock:
                        buf.reconnects += 1
                first = False
                self._stream(stream)
                self._pause()
        except Exception:  # a bug: say so loudly, but never take the serving process down
            log.exception("inference logger %s: the sender stopped", self.writer_id)
        finally:
            if self._channel is not None:
                self._channel.close()

    def _has_work(self) -> bool:
        with self._buf.lock:
            return bool(self._buf.raw or self._buf.batches or self._buf.closing)

    def _stream(self, stream: Stream) -> None:
        buf = self._buf
        session = Session()
        with buf.lock:
            self._session = session
        try:
            session.call = stream(self._requests(session), metadata=self._security.metadata or None)
            for ack in session.call:
                if not self._ack(session, ack):
                    session.call.cancel()
                    break
            else:
                with buf.lock:
                    if not (buf.closing and buf.idle_locked()):
                        # Ended without an error before we were done: pause before the next.
                        self._failures += 1
        except grpc.RpcError as exc:
            self._stream_failed(exc)
        finally:
            with buf.lock:
                session.dead = True
            buf.wake.set()

    def _ack(self, session: Session, ack: prod.WriteInferenceRecordsResponse) -> bool:
        buf = self._buf
        with buf.lock:
            if buf.stopped:
                return False
            if not buf.batches or session.in_flight == 0 or buf.batches[0].seq != ack.batch_seq:
                head = buf.batches[0].seq if buf.batches else None
                buf.last_error = f"acknowledgement of batch {ack.batch_seq}, expected {head}"
                log.warning("inference logger %s: %s; reconnecting", self.writer_id, buf.last_error)
                return False
            batch = buf.batches.popleft()
            session.in_flight -= 1
            session.sent_at.popleft()
            buf.held -= batch.count
            buf.held_bytes -= batch.nbytes
            buf.acked += batch.count
            buf.accepted += ack.accepted
            buf.duplicates += ack.duplicates
            rejected = max(0, batch.count - ack.accepted - ack.duplicates)
            buf.rejected += rejected
            buf.batches_acked += 1
            if ack.errors:
                first = ack.errors[0]
                buf.last_error = f"{first.reason}: {first.field}: {first.message}"
                log.warning(
                    "inference logger %s: the server rejected %d record(s) of batch %d, e.g. %s",
                    self.writer_id,
                    rejected,
                    ack.batch_seq,
                    buf.last_error,
                )
            self._failures = 0
            self._warned = False
            buf.settled.notify_all()
        buf.wake.set()
        with buf.room:
            buf.room.notify_all()
        return True

    def _stream_failed(self, exc: grpc.RpcError) -> None:
        buf = self._buf
        code = exc.code()
        with buf.lock:
            if buf.stopped:
                return
            buf.last_error = f"{code.name}: {exc.details()}"
            self._failures += 1
            too_large = code is grpc.StatusCode.RESOURCE_EXHAUSTED and _TOO_LARGE in (
                exc.details() or ""
            )
            if code in _RETRIED and not too_large:
                if not self._warned:
                    log.warning(
                        "inference logger %s: stream failed (%s); retrying",
                        self.writer_id,
                        buf.last_error,
                    )
                    self._warned = True
                return
            head = buf.batches[0] if buf.batches else None
            if head is None:
                return
            if code in _SUSPECT or too_large:
                seq, count = self._suspect
                count = count + 1 if seq == head.seq else 1
                self._suspect = (head.seq, count)
                if count < _SUSPECT_ATTEMPTS:
                    return
            # Not worth retrying (or retried enough): give the oldest batch up.
            buf.batches.popleft()
            buf.held -= head.count
            buf.held_bytes -= head.nbytes
            buf.failed += head.count
            buf.settled.notify_all()
            log.error(
                "inference logger %s: the server refused batch %d (%s); its %d records are dropped",
                self.writer_id,
                head.seq,
                buf.last_error,
                head.count,
            )
        with buf.room:
            buf.room.notify_all()

    def _pause(self) -> None:
        """The jittered backoff before the next stream; records keep being encoded
        meanwhile, so the byte bound sees them."""
        if self._failures == 0:
            return
        opts = self._opts
        ceiling = min(opts.max_backoff_s, opts.initial_backoff_s * 2 ** (self._failures - 1))
        until = time.monotonic() + random.uniform(ceiling / 2, ceiling)
        while not self._stop.is_set():
            with self._buf.lock:
                self._build_ready_locked(time.monotonic())
            left = until - time.monotonic()
            if left <= 0:
                return
            self._stop.wait(min(left, opts.flush_interval_s))

    # grpc's request thread: batches as they are ready and the window allows.

    def _requests(self, session: Session) -> Iterator[bytes]:
        buf = self._buf
        opts = self._opts
        while True:
            with buf.lock:
                if session.dead or buf.stopped:
                    return
                now = time.monotonic()
                self._build_ready_locked(now)
                batch = None
                if session.in_flight < min(len(buf.batches), opts.max_in_flight):
                    batch = buf.batches[session.in_flight]
                    session.in_flight += 1
                    session.sent_at.append(now)
                    if batch.sends:
                        buf.resent += 1
                    batch.sends += 1
                elif buf.closing and buf.idle_locked():
                    return  # half-close: the server ends the stream
                overdue = bool(session.sent_at) and now - session.sent_at[0] > opts.ack_timeout_s
                wait = self._wait_locked(now)
            if batch is not None:
                yield batch.payload
                continue
            if overdue and session.call is not None:
                with buf.lock:
                    buf.last_error = f"no acknowledgement within {opts.ack_timeout_s} s"
                session.call.cancel()
                return
            buf.wake.wait(wait)
            buf.wake.clear()

    def _wait_locked(self, now: float) -> float:
        interval = self._opts.flush_interval_s
        if self._first_seen is None:
            return interval
        return max(0.001, min(interval, self._first_seen + interval - now))

    def _build_ready_locked(self, now: float) -> None:
        """Build batches of what is in raw when a batch is full, the oldest record has
        waited ``flush_interval_s``, or a flush or close asks for it."""
        buf = self._buf
        opts = self._opts
        waiting = len(buf.raw)
        if waiting == 0:
            self._first_seen = None
            if buf.flushing:
                buf.flushing = 0
            return
        if self._first_seen is None:
            self._first_seen = now
        if not (
            waiting >= opts.batch_records
            or now - self._first_seen >= opts.flush_interval_s
            or buf.flushing
            or buf.closing
        ):
            return
        while waiting > 0:
            waiting -= self._build_locked(min(waiting, opts.batch_records))
        self._first_seen = None
        buf.flushing = 0

    def _build_locked(self, most: int) -> int:
        """One batch of up to ``most`` records from raw; returns how many were taken."""
        buf = self._buf
        popleft = buf.raw.popleft
        # Out of raw and counted as held at once, so the buffer's size never reads wrong
        # for longer than this line takes.
        taken = [popleft() for _ in range(most)]
        buf.held += most
        encode = self._encoder.encode
        limit = self._opts.batch_bytes
        records: list[bytes] = []
        size = used = 0
        for raw in taken:
            try:
                data = encode(*raw)
                if len(data) > limit:
                    raise wire.InvalidRecord(
                        f"{len(data)} bytes encoded, more than batch_bytes ({limit})"
                    )
            except (wire.InvalidRecord, UnicodeError, OverflowError) as exc:
                used += 1
                self._invalid_locked(raw[0], exc)
                continue
            if records and size + len(data) > limit:
                break  # a batch never exceeds batch_bytes: this one starts the next
            used += 1
            records.append(data)
            size += len(data)
        if used < most:  # the byte budget ran out: the rest go back, in order
            buf.raw.extendleft(reversed(taken[used:]))
        buf.held -= most - len(records)
        buf.taken += used
        if records:
            seq = buf.next_seq
            payload = wire.request(self._parent, self.writer_id, seq, records)
            batch = Batch(payload, seq, len(records))
            buf.next_seq += 1
            buf.held_bytes += batch.nbytes
            buf.batches.append(batch)
        return used

    def _invalid_locked(self, record_id: str, exc: Exception) -> None:
        buf = self._buf
        if not buf.invalid:
            log.warning(
                "inference logger %s: record %s not sent, its arguments are invalid: %s "
                "(counted in stats().invalid; logged once)",
                self.writer_id,
                record_id,
                exc,
            )
        buf.invalid += 1
        buf.last_error = f"invalid record {record_id}: {exc}"
        buf.settled.notify_all()
