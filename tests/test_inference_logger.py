"""The inference logger's mechanics, against a small in-test gRPC server on 127.0.0.1 that
implements WriteInferenceRecords only (real gRPC, real sockets; no database): batching,
in-order acknowledgements, resend after a broken stream or a restart, dedup-friendly
resends (same record id and event time), the full-buffer policies, fork safety, bad
arguments, record ids, and the counters' invariant. The same behaviour against the real
server and PostgreSQL is in test_inference_logger_e2e.py and faults/test_inference_faults.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent import futures
from datetime import datetime, timezone
from typing import Any

import grpc
import pytest

from modelreg._inference_buffer import LoggerOptions
from modelreg._inference_logger import AsyncInferenceLogger, InferenceLogger
from modelreg.api.v1 import production_service_pb2 as prod
from modelreg.api.v1 import production_service_pb2_grpc as prod_grpc
from modelreg.api.v1 import resources_pb2 as pb

WAIT_S = 30.0  # a bound on waiting for something to happen, never an assertion on time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Ingest(prod_grpc.ProductionServiceServicer):
    """WriteInferenceRecords as the contract says: one ack per batch, in order, with
    accepted/duplicate counts (dedup by record id and event time) and per-record errors
    (a version other than ``known_version`` is rejected by itself)."""

    def __init__(self, known_version: int = 1) -> None:
        self.known_version = known_version
        self.lock = threading.Lock()
        self.stored: dict[tuple[str, int], pb.InferenceRecord] = {}
        self.received = 0  # records received, resends included
        self.batches: list[tuple[str, int, int]] = []  # (writer_id, batch_seq, size)
        self.hold = threading.Event()  # while set, acknowledgements wait
        self.fail_after: int | None = None  # break the stream after this many acks

    def WriteInferenceRecords(
        self, request_iterator: Iterator[prod.WriteInferenceRecordsRequest], context: Any
    ) -> Iterator[prod.WriteInferenceRecordsResponse]:
        for request in request_iterator:
            while self.hold.is_set() and context.is_active():
                time.sleep(0.005)
            with self.lock:
                left = self.fail_after
                if left == 0:
                    self.fail_after = None
                    context.abort(grpc.StatusCode.UNAVAILABLE, "going away")
                elif left is not None:
                    self.fail_after = left - 1
                yield self.store(request)

    def store(self, request: prod.WriteInferenceRecordsRequest) -> Any:
        self.batches.append((request.writer_id, request.batch_seq, len(request.records)))
        accepted = duplicates = 0
        errors = []
        for i, record in enumerate(request.records):
            self.received += 1
            uuid.UUID(record.record_id)  # a valid UUID, or the test fails loudly
            if record.version != self.known_version:
                errors.append(
                    prod.RecordError(
                        index=i,
                        record_id=record.record_id,
                        field=f"records[{i}].version",
                        reason="VERSION_NOT_FOUND",
                        message="no such version",
                    )
                )
                continue
            key = (record.record_id, record.event_time.ToNanoseconds())
            if key in self.stored:
                duplicates += 1
            else:
                self.stored[key] = record
                accepted += 1
        return prod.WriteInferenceRecordsResponse(
            batch_seq=request.batch_seq, accepted=accepted, duplicates=duplicates, errors=errors
        )

    def ids(self) -> set[str]:
        with self.lock:
            return {rid for rid, _ in self.stored}


class FakeServer:
    """A grpc server on a fixed 127.0.0.1 port that can be stopped and started again."""

    def __init__(self, ingest: Ingest, port: int | None = None) -> None:
        self.ingest = ingest
        self.port = port or free_port()
        self.target = f"127.0.0.1:{self.port}"
        self._server: grpc.Server | None = None

    def start(self) -> None:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        prod_grpc.add_ProductionServiceServicer_to_server(self.ingest, server)
        server.add_insecure_port(self.target)
        server.start()
        self._server = server

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=None).wait()
            self._server = None


@pytest.fixture
def ingest() -> Ingest:
    return Ingest()  # type: ignore[abstract]  # WriteInferenceRecords only


@pytest.fixture
def fake(ingest: Ingest) -> Iterator[FakeServer]:
    server = FakeServer(ingest)
    server.start()
    yield server
    server.stop()


def make_logger(target: str, **options: Any) -> InferenceLogger:
    return InferenceLogger(
        target, "proj", "m", 1, deployment="prod", options=LoggerOptions(**options)
    )


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {WAIT_S}s: {what}")
        time.sleep(0.01)


def invariant(logger: InferenceLogger | AsyncInferenceLogger) -> None:
    s = logger.stats()
    assert s.acked + s.dropped + s.pending == s.logged, s
    assert s.acked == s.accepted + s.duplicates + s.rejected, s
    assert s.dropped == s.dropped_full + s.invalid + s.failed, s


def test_records_arrive_once_with_their_fields(fake: FakeServer, ingest: Ingest) -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc)
    with make_logger(fake.target) as logger:
        a = logger.log(
            inputs={"text": "안녕"},
            outputs={"text": "hi"},
            prediction="positive",
            latency_ms=12.5,
            request_id="req-1",
            attributes={"country": "kr"},
        )
        b = logger.log(prediction=0.25, event_time=when)
        c = logger.log(prediction=True)
        assert logger.flush(timeout=WAIT_S)
        s = logger.stats()
    assert (s.logged, s.acked, s.accepted, s.dropped, s.pending) == (3, 3, 3, 0, 0)
    records = {r.record_id: r for r in ingest.stored.values()}
    assert set(records) == {a, b, c}
    ra = records[a]
    assert json.loads(ra.inputs) == {"text": "안녕"} and json.loads(ra.outputs) == {"text": "hi"}
    assert ra.WhichOneof("prediction") == "predicted_label" and ra.predicted_label == "positive"
    assert (ra.latency_ms, ra.request_id, dict(ra.attributes)) == (12.5, "req-1", {"country": "kr"})
    assert (ra.model, ra.version, ra.deployment) == ("m", 1, "prod")
    assert records[b].predicted_value == 0.25 and not records[b].HasField("latency_ms")
    assert records[b].event_time.ToDatetime(tzinfo=timezone.utc) == when
    assert records[b].inputs == b"" and records[b].outputs == b""
    assert records[c].predicted_label == "true"
    # The writer id names the logger, batches go up from 1.
    assert {w for w, _, _ in ingest.batches} == {logger.writer_id}


def test_record_ids_are_distinct_uuid4s_and_a_new_logger_has_a_new_prefix(
    fake: FakeServer,
) -> None:
    with make_logger(fake.target) as one, make_logger(fake.target) as two:
        ids = [one.log() for _ in range(1000)] + [two.log() for _ in range(1000)]
    assert len(set(ids)) == 2000
    for rid in ids[:3] + ids[-3:]:
        parsed = uuid.UUID(rid)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and str(parsed) == rid
    assert ids[0][:24] != ids[-1][:24]


def test_batches_by_count_and_time(fake: FakeServer, ingest: Ingest) -> None:
    with make_logger(fake.target, batch_records=100, flush_interval_s=0.05) as logger:
        for _ in range(1000):
            logger.log(prediction=1.0)
        wait_until(lambda: logger.stats().acked == 1000, "1000 acked without a flush")
        assert max(size for _, _, size in ingest.batches) <= 100
        # One record alone is sent once its batch has waited flush_interval_s.
        logger.log(prediction=2.0)
        wait_until(lambda: logger.stats().acked == 1001, "a lone record is sent")
    seqs = [seq for _, seq, _ in ingest.batches]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def test_batches_by_bytes(fake: FakeServer, ingest: Ingest) -> None:
    with make_logger(fake.target, batch_bytes=10_000) as logger:
        for _ in range(100):
            logger.log(inputs={"blob": "x" * 1000})
        assert logger.flush(timeout=WAIT_S)
    assert len(ingest.stored) == 100
    assert max(size for _, _, size in ingest.batches) <= 10


def test_a_record_larger_than_a_batch_is_counted_not_sent(fake: FakeServer, ingest: Ingest) -> None:
    """A batch stays under batch_bytes (so under the server's request limit); one record
    over it alone would be refused with its whole batch, so it alone is not sent."""
    with make_logger(fake.target, batch_bytes=10_000) as logger:
        small = [logger.log(inputs={"blob": "x" * 3000}) for _ in range(3)]
        big = logger.log(inputs={"blob": "x" * 20_000})
        small += [logger.log(inputs={"blob": "x" * 3000}) for _ in range(3)]
        assert logger.flush(timeout=WAIT_S)
        stats = logger.stats()
    assert (stats.invalid, stats.acked, stats.dropped) == (1, 6, 1)
    assert "more than batch_bytes" in stats.last_error and big in stats.last_error
    assert len(ingest.stored) == 6
    assert all(size <= 3 for _, _, size in ingest.batches)


def test_in_flight_window_is_bounded(fake: FakeServer, ingest: Ingest) -> None:
    ingest.hold.set()
    logger = make_logger(fake.target, batch_records=10, max_in_flight=3)
    try:
        for _ in range(100):
            logger.log()
        # The server holds its first ack: the sender stops at its window (the servicer
        # reads requests only as it answers them, so watch the sender's own count).
        sender = logger._sender
        assert sender is not None
        wait_until(
            lambda: sender._session is not None and sender._session.in_flight == 3,
            "three batches in flight",
        )
        time.sleep(0.2)
        assert sender._session is not None and sender._session.in_flight == 3
        assert logger.stats().acked == 0
    finally:
        ingest.hold.clear()
        logger.close(timeout=WAIT_S)
    assert len(ingest.stored) == 100 and logger.stats().accepted == 100


def test_resend_after_a_broken_stream_stores_each_record_once(
    fake: FakeServer, ingest: Ingest
) -> None:
    ingest.fail_after = 2
    with make_logger(fake.target, batch_records=50, initial_backoff_s=0.01) as logger:
        ids = [logger.log(prediction=float(i)) for i in range(1000)]
        assert logger.flush(timeout=WAIT_S)
        s = logger.stats()
    assert ingest.ids() == set(ids)
    assert s.reconnects >= 1 and s.acked == 1000 and s.pending == 0
    assert s.accepted + s.duplicates == 1000 and s.accepted == 1000


def test_records_logged_while_the_server_is_down_are_delivered_when_it_comes_up(
    ingest: Ingest,
) -> None:
    server = FakeServer(ingest)
    logger = make_logger(server.target, initial_backoff_s=0.01, max_backoff_s=0.1)
    try:
        ids = [logger.log(prediction=1.0) for _ in range(5000)]
        s = logger.stats()
        # log() returned every time and buffered everything; nothing was acknowledged.
        assert (s.logged, s.pending, s.dropped, s.acked) == (5000, 5000, 0, 0)
        wait_until(lambda: logger.stats().last_error.startswith("UNAVAILABLE"), "a failure")
        server.start()
        assert logger.flush(timeout=WAIT_S)
        assert ingest.ids() == set(ids)
        invariant(logger)
    finally:
        logger.close(timeout=WAIT_S)
        server.stop()


def test_a_server_restart_mid_stream_loses_nothing_and_stores_nothing_twice(
    ingest: Ingest,
) -> None:
    server = FakeServer(ingest)
    server.start()
    logger = make_logger(server.target, batch_records=200, initial_backoff_s=0.01)
    ids: list[str] = []
    try:
        for round_ in range(3):
            ids += [logger.log(prediction=float(i)) for i in range(3000)]
            wait_until(lambda: logger.stats().acked > 0, "some acked")
            server.stop()
            ids += [logger.log() for _ in range(1000)]
            server.start()
            assert round_ >= 0
        assert logger.flush(timeout=WAIT_S)
        s = logger.stats()
        assert ingest.ids() == set(ids) and len(ingest.stored) == len(ids) == 12_000
        assert s.acked == s.logged == 12_000 and s.accepted + s.duplicates == 12_000
    finally:
        logger.close(timeout=WAIT_S)
        server.stop()


def test_full_buffer_drops_the_newest_and_counts_them(ingest: Ingest) -> None:
    server = FakeServer(ingest)  # not started: nothing is acknowledged
    logger = make_logger(server.target, max_buffer_records=1000, initial_backoff_s=0.01)
    try:
        ids = [logger.log(prediction=float(i)) for i in range(1500)]
        s = logger.stats()
        assert (s.logged, s.dropped, s.dropped_full, s.pending) == (1500, 500, 500, 1000)
        server.start()
        assert logger.flush(timeout=WAIT_S)
        # The oldest 1000 were kept, the newest dropped.
        assert ingest.ids() == set(ids[:1000])
        invariant(logger)
    finally:
        logger.close(timeout=WAIT_S)
        server.stop()


def test_full_buffer_by_bytes(ingest: Ingest) -> None:
    server = FakeServer(ingest)
    logger = make_logger(
        server.target, max_buffer_bytes=50_000, flush_interval_s=0.01, batch_records=10
    )
    try:
        for _ in range(10):
            logger.log(inputs={"blob": "x" * 10_000})
        wait_until(lambda: logger.stats().pending <= 5 or logger._buf.held_bytes > 50_000, "")
        for _ in range(100):
            logger.log(inputs={"blob": "x" * 10_000})
        wait_until(lambda: logger._buf.held_bytes >= 50_000, "the byte bound reached")
        before = logger.stats().dropped_full
        logger.log(inputs={"blob": "x"})
        assert logger.stats().dropped_full == before + 1
    finally:
        logger.close(timeout=1)


def test_block_policy_waits_for_room_then_drops_after_its_timeout(ingest: Ingest) -> None:
    server = FakeServer(ingest)
    logger = make_logger(
        server.target,
        max_buffer_records=100,
        on_full="block",
        block_timeout_s=0.05,
        initial_backoff_s=0.01,
        max_backoff_s=0.05,
    )
    try:
        for _ in range(100):
            logger.log()
        # No server: a blocked log() gives up after block_timeout_s and counts the drop.
        logger.log()
        assert logger.stats().dropped_full == 1
        # A server comes up while log() is blocked: room is made and nothing is dropped.
        blocked = make_logger(
            server.target,
            max_buffer_records=100,
            on_full="block",
            block_timeout_s=WAIT_S,
            initial_backoff_s=0.01,
            max_backoff_s=0.05,
            batch_records=10,
        )
        try:
            for _ in range(100):
                blocked.log()
            done = threading.Event()

            def log_one() -> None:
                blocked.log()
                done.set()

            threading.Thread(target=log_one).start()
            assert not done.wait(0.2)  # blocked while the buffer is full
            server.start()
            assert done.wait(WAIT_S)
            assert blocked.flush(timeout=WAIT_S)
            s = blocked.stats()
            assert (s.logged, s.acked, s.dropped) == (101, 101, 0)
        finally:
            blocked.close(timeout=WAIT_S)
    finally:
        logger.close(timeout=WAIT_S)
        server.stop()


def test_bad_arguments_are_counted_never_raised(fake: FakeServer, ingest: Ingest) -> None:
    with make_logger(fake.target) as logger:
        good = logger.log(inputs={"ok": 1})
        logger.log(inputs={"x": object()})  # not JSON
        logger.log(inputs={"x": float("nan")})  # not JSON either
        logger.log(prediction=[1, 2])  # type: ignore[arg-type]
        logger.log(event_time=datetime(2026, 1, 1))  # naive
        logger.log(latency_ms="fast")  # type: ignore[arg-type]
        logger.log(attributes={"n": 3})  # type: ignore[dict-item]  # made a string
        assert logger.flush(timeout=WAIT_S)
        s = logger.stats()
    assert (s.logged, s.invalid, s.dropped, s.acked) == (7, 5, 5, 2), s
    stored = {r.record_id: r for r in ingest.stored.values()}
    assert good in stored and any(dict(r.attributes) == {"n": "3"} for r in stored.values())
    assert "invalid record" in s.last_error
    invariant(logger)


def test_records_the_server_rejects_are_acked_and_counted(ingest: Ingest) -> None:
    server = FakeServer(ingest)
    server.start()
    try:
        with InferenceLogger(server.target, "proj", "m", 99) as logger:
            logger.log()
            assert logger.flush(timeout=WAIT_S)
            s = logger.stats()
        assert (s.acked, s.rejected, s.accepted) == (1, 1, 0)
        assert s.last_error.startswith("VERSION_NOT_FOUND")
    finally:
        server.stop()


def test_close_flushes_and_log_after_close_counts_a_drop(fake: FakeServer, ingest: Ingest) -> None:
    logger = make_logger(fake.target)
    ids = [logger.log() for _ in range(10)]
    assert logger.close(timeout=WAIT_S)
    assert ingest.ids() == set(ids)
    assert logger.close()  # twice: nothing
    logger.log()
    s = logger.stats()
    assert (s.logged, s.acked, s.failed, s.pending) == (11, 10, 1, 0)
    invariant(logger)


def test_close_gives_up_after_its_timeout_and_counts_what_was_lost(ingest: Ingest) -> None:
    server = FakeServer(ingest)  # never started
    logger = make_logger(server.target)
    for _ in range(10):
        logger.log()
    assert not logger.close(timeout=0.2)
    s = logger.stats()
    assert (s.logged, s.failed, s.dropped, s.pending) == (10, 10, 10, 0)


def test_an_unacknowledged_batch_is_resent_on_a_new_stream(
    fake: FakeServer, ingest: Ingest
) -> None:
    ingest.hold.set()
    with make_logger(fake.target, ack_timeout_s=0.2, initial_backoff_s=0.01) as logger:
        logger.log()
        wait_until(
            lambda: (
                logger.stats().last_error.startswith("CANCELLED")
                or "no acknowledgement" in logger.stats().last_error
            ),
            "the ack timed out",
        )
        ingest.hold.clear()
        assert logger.flush(timeout=WAIT_S)
        s = logger.stats()
    assert s.acked == 1 and s.accepted + s.duplicates == 1 and s.reconnects >= 1


def test_async_logger(fake: FakeServer, ingest: Ingest) -> None:
    async def main() -> list[str]:
        async with AsyncInferenceLogger(fake.target, "proj", "m", 1) as logger:
            ids = [logger.log(prediction="x") for _ in range(100)]
            assert await logger.flush(timeout=WAIT_S)
            assert logger.stats().acked == 100
        assert logger.closed
        return ids

    ids = asyncio.run(main())
    assert ingest.ids() == set(ids)


def test_a_forked_child_logs_through_its_own_thread_and_channel(
    fake: FakeServer, ingest: Ingest
) -> None:
    logger = make_logger(fake.target)
    parent_ids = [logger.log() for _ in range(100)]
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report over the pipe, never return into pytest
        code = 1
        try:
            before = logger.stats()
            ids = [logger.log() for _ in range(50)]
            flushed = logger.close(timeout=WAIT_S)
            report = {
                "before": before.logged,
                "ids": ids,
                "flushed": flushed,
                "writer": logger.writer_id,
                "stats": logger.stats().acked,
            }
            os.write(write, json.dumps(report).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read) as pipe:
        report = json.loads(pipe.read())
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert report["before"] == 0 and report["flushed"] and report["stats"] == 50
    assert report["writer"] != logger.writer_id
    assert report["ids"][0][:24] != parent_ids[0][:24]
    # The parent carries on, unaffected.
    parent_ids += [logger.log() for _ in range(100)]
    assert logger.close(timeout=WAIT_S)
    assert logger.stats().acked == 200
    assert ingest.ids() == set(parent_ids) | set(report["ids"])
    writers = {w for w, _, _ in ingest.batches}
    assert writers == {logger.writer_id, report["writer"]}
