"""Exactly once in the table, through faults: 200,000 records through the SDK's inference
logger while the server process is SIGKILLed and restarted twice, and while its PostgreSQL
stops (immediate) and restarts. Afterwards every acknowledged record is in the table once
(count(*) == count(DISTINCT record_id) == accepted + duplicates == acked: a duplicate is a
record whose batch was committed but whose acknowledgement died with the server), the
logger's counters add up (acked + dropped == logged), and a record was dropped only while
the buffer was full. Counts and flags are asserted, never durations; every wait is bounded.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import modelreg
from modelreg_server.testing import fresh_database
from tests.conftest import unique
from tests.faults.pg import OwnPostgres
from tests.support import ServerProcess, register, sql

RECORDS = 200_000
CHUNK = 1_000
PACE_S = 0.02  # between chunks: about 50,000 records/s at most, so faults land mid-stream
WAIT_S = 90.0  # bounds, never assertions
BUFFER = 100_000
BATCH = modelreg.LoggerOptions().batch_records


def start_server(
    database_url: str, tmp: Path, name: str, port: int = 0
) -> tuple[ServerProcess, str]:
    proc = ServerProcess(
        ["--database-url", database_url, "--listen", f"127.0.0.1:{port}"],
        cwd=tmp,
        log=tmp / f"{name}.log",
    )
    return proc, proc.wait_ready()


@dataclass
class Stream:
    """RECORDS records logged from a thread in chunks, with what each chunk saw."""

    logger: modelreg.InferenceLogger
    ids: list[str] = field(default_factory=list)
    # (drops in the chunk, records held before it) for each chunk that dropped any.
    dropping_chunks: list[tuple[int, int]] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        logger = self.logger
        for start in range(0, RECORDS, CHUNK):
            if self.stop.is_set():
                break
            before = logger.stats()
            self.ids.extend(
                logger.log(
                    prediction=float(i % 7),
                    latency_ms=1.0,
                    request_id=f"r{i}",
                    attributes={"chunk": str(start // CHUNK % 10)},
                )
                for i in range(start, start + CHUNK)
            )
            dropped = logger.stats().dropped_full - before.dropped_full
            if dropped:
                self.dropping_chunks.append((dropped, before.pending))
            time.sleep(PACE_S)
        self.done.set()

    def wait_acked(self, count: int) -> None:
        deadline = time.monotonic() + WAIT_S
        while self.logger.stats().acked < count:
            assert time.monotonic() < deadline, f"fewer than {count} acked: {self.logger.stats()}"
            time.sleep(0.02)


def check_exactly_once(
    database_url: str, project: str, stream: Stream, logger: modelreg.InferenceLogger
) -> modelreg.LoggerStats:
    assert stream.done.wait(WAIT_S), "the logging thread did not finish"
    assert logger.flush(timeout=WAIT_S), logger.stats()
    s = logger.stats()
    assert s.logged == RECORDS == len(stream.ids)
    assert s.pending == 0 and s.acked + s.dropped == s.logged, s
    assert (s.invalid, s.failed, s.rejected) == (0, 0, 0), s
    assert s.dropped == s.dropped_full
    # A record was dropped only when the buffer was full: a chunk that dropped records
    # started with at least BUFFER - CHUNK held (less a batch: the sender counts a batch
    # as held while it builds it, so the buffer reads full a little early, never late).
    for _, held_before in stream.dropping_chunks:
        assert held_before >= BUFFER - CHUNK - BATCH, stream.dropping_chunks
    (row,) = sql(
        database_url,
        "SELECT count(*), count(DISTINCT r.record_id) FROM inference_records r "
        "JOIN projects p ON p.id = r.project_id WHERE p.name = $1",
        project,
    )
    count, distinct = int(row[0]), int(row[1])
    assert count == distinct == s.accepted + s.duplicates == s.acked, (count, distinct, s)
    # ...and they are the ones logged: every stored id was logged, none twice.
    (outside,) = sql(
        database_url,
        "SELECT count(*) FROM inference_records r JOIN projects p ON p.id = r.project_id "
        "WHERE p.name = $1 AND NOT (r.record_id = ANY($2::uuid[]))",
        project,
        stream.ids,
    )
    assert int(outside[0]) == 0
    return s


@pytest.fixture
def logging_setup() -> Iterator[Callable[[str], tuple[str, str, modelreg.InferenceLogger]]]:
    made: list[modelreg.InferenceLogger] = []

    def make(target: str) -> tuple[str, str, modelreg.InferenceLogger]:
        project, model = unique("faults"), "m"
        with modelreg.Client(target, actor="tester") as client:
            client.create_project(project)
            register(client, project, model, 1)
            logger = client.inference_logger(
                project,
                model,
                version=1,
                max_buffer_records=BUFFER,
                initial_backoff_s=0.05,
                max_backoff_s=0.5,
            )
        made.append(logger)
        return project, model, logger

    yield make
    for logger in made:
        logger.close(timeout=5)


@pytest.mark.slow
def test_sigkilled_server_restarted_twice_each_record_stored_once(
    database_url: str, tmp_path: Path, logging_setup: Callable[..., Any]
) -> None:
    server, target = start_server(database_url, tmp_path, "first")
    port = int(target.rpartition(":")[2])
    project, _, logger = logging_setup(target)
    stream = Stream(logger)
    thread = threading.Thread(target=stream.run)
    servers = [server]
    try:
        thread.start()
        for n, at in enumerate((RECORDS // 5, RECORDS // 2)):
            stream.wait_acked(at)
            servers[-1].proc.send_signal(signal.SIGKILL)
            servers[-1].proc.wait(timeout=30)
            servers.append(start_server(database_url, tmp_path, f"restart{n}", port)[0])
        s = check_exactly_once(database_url, project, stream, logger)
        assert s.reconnects >= 2 and s.resent >= 1, s
    finally:
        stream.stop.set()
        thread.join(timeout=WAIT_S)
        for proc in servers:
            proc.stop()
    for proc in servers[1:]:
        assert "Traceback" not in proc.stderr_tail(), proc.stderr_tail()


@pytest.mark.slow
def test_postgres_stopped_immediately_and_restarted_each_record_stored_once(
    own_postgres: OwnPostgres, tmp_path: Path, logging_setup: Callable[..., Any]
) -> None:
    with fresh_database(own_postgres.url) as url:
        server, target = start_server(url, tmp_path, "server")
        try:
            project, _, logger = logging_setup(target)
            stream = Stream(logger)
            thread = threading.Thread(target=stream.run)
            try:
                thread.start()
                stream.wait_acked(RECORDS // 4)
                own_postgres.stop_immediate()
                acked_at_stop = logger.stats().acked
                time.sleep(2.0)  # the outage: batches fail or wait meanwhile
                own_postgres.start()
                check_exactly_once(url, project, stream, logger)
                assert logger.stats().acked > acked_at_stop
            finally:
                stream.stop.set()
                thread.join(timeout=WAIT_S)
        finally:
            server.stop()
