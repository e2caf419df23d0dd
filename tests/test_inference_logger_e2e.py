"""The inference logger and the production-tracking SDK methods end to end: the real server
on 127.0.0.1 and PostgreSQL. Records reach the table exactly once with their version,
deployment and attributes; feedback joins them; the full-buffer policies; a forked child's
records; records logged while no server is up are delivered once one is. Assertions are
on counts and flags, never on wall-clock durations (waits are bounded, never asserted)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import modelreg
from modelreg._cli_prod import time_arg
from modelreg.cli import main as cli_main
from modelreg_server.config import Settings
from modelreg_server.testing import ServerThread
from tests.conftest import unique
from tests.inference_support import create_deployment
from tests.support import register, sql

WAIT_S = 60.0  # a bound on waiting, never an assertion
REPO = Path(__file__).resolve().parents[1]


class Face:
    """Either logger behind InferenceLogger's face: the async one's flush and close are
    awaited (the ``client`` fixture hands out an AsyncInferenceLogger for AsyncClient)."""

    def __init__(self, logger: modelreg.InferenceLogger | modelreg.AsyncInferenceLogger) -> None:
        self.logger = logger

    def __getattr__(self, name: str) -> Any:
        return getattr(self.logger, name)

    def _settle(self, result: Any) -> Any:
        return asyncio.run(result) if asyncio.iscoroutine(result) else result

    def flush(self, timeout: float | None = WAIT_S) -> bool:
        return bool(self._settle(self.logger.flush(timeout)))

    def close(self, timeout: float | None = WAIT_S) -> bool:
        return bool(self._settle(self.logger.close(timeout)))


@pytest.fixture
def model(sync_client: modelreg.Client, project: str) -> str:
    """A model with versions 1 and 2, ``production`` on 2."""
    name = unique("m")
    register(sync_client, project, name, 2)
    sync_client.set_alias(project, name, "production", 2)
    return name


def stored(database_url: str, project: str) -> list[Any]:
    return sql(
        database_url,
        "SELECT r.record_id::text AS record_id, r.version, count(*) OVER () AS n "
        "FROM inference_records r JOIN projects p ON p.id = r.project_id WHERE p.name = $1",
        project,
    )


def exactly_once(database_url: str, project: str) -> tuple[int, int]:
    (row,) = sql(
        database_url,
        "SELECT count(*), count(DISTINCT record_id) FROM inference_records r "
        "JOIN projects p ON p.id = r.project_id WHERE p.name = $1",
        project,
    )
    return int(row[0]), int(row[1])


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {WAIT_S}s: {what}")
        time.sleep(0.02)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def invariant(stats: modelreg.LoggerStats) -> None:
    assert stats.acked + stats.dropped + stats.pending == stats.logged, stats
    assert stats.acked == stats.accepted + stats.duplicates + stats.rejected, stats


def test_records_reach_the_table_once_with_version_deployment_and_attributes(
    client: modelreg.Client, project: str, model: str, database_url: str
) -> None:
    create_deployment(database_url, project, model, "prod", [[2, 100]])
    logger = Face(client.inference_logger(project, model, deployment="prod", batch_records=100))
    assert logger.version == 2  # resolved once, through the alias
    ids = [
        logger.log(
            inputs={"text": f"q{i}"},
            outputs={"text": f"a{i}"},
            prediction="pos" if i % 2 else "neg",
            latency_ms=float(i),
            request_id=f"req-{i}",
            attributes={"country": "kr" if i % 3 else "us"},
        )
        for i in range(500)
    ]
    assert logger.flush()
    stats = logger.stats()
    assert (stats.logged, stats.acked, stats.accepted, stats.dropped, stats.pending) == (
        500,
        500,
        500,
        0,
        0,
    )
    assert logger.close()
    assert exactly_once(database_url, project) == (500, 500)
    records = list(client.list_inference_records(project, model, page_size=200))
    assert {r.record_id for r in records} == set(ids)
    by_request = {r.request_id: r for r in records}
    r7 = by_request["req-7"]
    assert (r7.model, r7.version, r7.deployment) == (model, 2, "prod")
    assert (r7.inputs, r7.outputs, r7.prediction, r7.latency_ms) == (
        {"text": "q7"},
        {"text": "a7"},
        "pos",
        7.0,
    )
    assert r7.attributes == {"country": "kr"} and r7.feedback is None
    assert r7.ingest_time is not None and r7.ingest_time >= r7.event_time - timedelta(seconds=5)
    # Filters: by attribute, request id, version, deployment, time.
    us = list(client.list_inference_records(project, model, attributes={"country": "us"}))
    assert len(us) == len([i for i in range(500) if i % 3 == 0])
    assert [
        r.record_id for r in client.list_inference_records(project, model, request_id="req-9")
    ] == [ids[9]]
    assert list(client.list_inference_records(project, model, version=1)) == []
    assert len(list(client.list_inference_records(project, model, deployment="prod"))) == 500
    assert list(client.list_inference_records(project, model, until=timedelta(hours=1))) == []


def test_an_explicit_version_and_an_unknown_alias(
    client: modelreg.Client, project: str, model: str
) -> None:
    logger = Face(client.inference_logger(project, model, version=1))
    assert logger.version == 1
    logger.close()
    with pytest.raises(modelreg.NotFoundError):
        client.inference_logger(project, model, alias="nosuchalias")
    with pytest.raises(TypeError):
        client.inference_logger(project, model, no_such_option=1)


def test_feedback_by_request_id_and_record_id_joins_the_records(
    client: modelreg.Client, project: str, model: str
) -> None:
    with modelreg.Client(client_target(client)) as helper:
        logger = helper.inference_logger(project, model)
        a = logger.log(prediction="pos", request_id="req-a")
        b = logger.log(prediction=0.5, request_id="req-b")
        c = logger.log(prediction="neg", request_id="req-c")
        assert logger.close(timeout=WAIT_S)
    assert client.log_feedback(project, request_id="req-a", ground_truth="neg") == 1
    when = datetime(2026, 11, 1, 12, tzinfo=timezone.utc)
    assert client.log_feedback(project, record_id=b, ground_truth=0.75, feedback_time=when) == 1
    result = client.log_feedback_batch(
        project,
        [
            modelreg.Feedback(ground_truth="neg", record_id=c),
            modelreg.Feedback(ground_truth="x", record_id=str(uuid.uuid4())),
        ],
    )
    assert result.matched == 1
    assert [(e.index, e.reason) for e in result.errors] == [(1, "RECORD_NOT_FOUND")]
    records = {r.record_id: r for r in client.list_inference_records(project, model)}
    fa = records[a].feedback
    assert fa is not None and fa.ground_truth == "neg"
    fb = records[b].feedback
    assert fb is not None and (fb.ground_truth, fb.feedback_time) == (0.75, when)
    assert records[c].feedback is not None
    with pytest.raises(modelreg.NotFoundError):
        client.log_feedback(project, request_id="no-such-request", ground_truth="x")
    with pytest.raises(ValueError, match="exactly one"):
        client.log_feedback(project, ground_truth="x")


def client_target(client: Any) -> str:
    """The target of either client (the async one behind the adapter)."""
    wrapped = getattr(client, "wrapped", client)
    return str(wrapped.target)


def test_write_inference_records_in_one_call_and_again(
    client: modelreg.Client, project: str, model: str, database_url: str
) -> None:
    when = datetime.now(timezone.utc) - timedelta(minutes=5)
    records = [
        modelreg.InferenceRecord(
            record_id=str(uuid.uuid4()),
            model=model,
            version=1 + i % 2,
            event_time=when,
            prediction=float(i),
            attributes={"k": "v"},
        )
        for i in range(20)
    ]
    bad = modelreg.InferenceRecord(
        record_id=str(uuid.uuid4()), model=model, version=99, event_time=when
    )
    first = client.write_inference_records(project, [*records, bad], batch_seq=3)
    assert (first.batch_seq, first.accepted, first.duplicates) == (3, 20, 0)
    assert [(e.index, e.reason) for e in first.errors] == [(20, "VERSION_NOT_FOUND")]
    again = client.write_inference_records(project, records)
    assert (again.accepted, again.duplicates, again.errors) == (0, 20, ())
    assert exactly_once(database_url, project) == (20, 20)


def test_production_metrics_through_the_sdk_and_the_cli(
    client: modelreg.Client,
    project: str,
    model: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    when = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(
        hours=2
    )
    labels = [("pos", "pos"), ("pos", "neg"), ("neg", "neg"), ("neg", None)]
    records = [
        modelreg.InferenceRecord(
            record_id=str(uuid.uuid4()),
            model=model,
            version=1,
            event_time=when + timedelta(minutes=i),
            prediction=pred,
            latency_ms=10.0,
            attributes={"country": "kr" if i < 2 else "us"},
        )
        for i, (pred, _) in enumerate(labels)
    ]
    values = [
        modelreg.InferenceRecord(
            record_id=str(uuid.uuid4()),
            model=model,
            version=2,
            event_time=when + timedelta(minutes=10 + i),
            prediction=pred,
        )
        for i, pred in enumerate([1.0, 2.0])
    ]
    assert client.write_inference_records(project, records + values).accepted == 6
    feedback = [
        modelreg.Feedback(ground_truth=truth, record_id=r.record_id)
        for r, (_, truth) in zip(records, labels, strict=True)
        if truth is not None
    ] + [
        modelreg.Feedback(ground_truth=truth, record_id=r.record_id)
        for r, truth in zip(values, [2.0, 4.0], strict=True)
    ]
    assert client.log_feedback_batch(project, feedback).matched == 5
    report = client.production_metrics(project, model, since=timedelta(days=1), by="version")
    rows = {row.version: row for row in report.rows}
    assert set(rows) == {1, 2}
    v1, v2 = rows[1], rows[2]
    assert (v1.count, v1.feedback_count, v1.labeled_count) == (4, 3, 3)
    assert v1.accuracy == pytest.approx(2 / 3) and v1.mae is None
    assert v1.latency_p50_ms == pytest.approx(10.0, rel=0.01)
    assert (v2.count, v2.valued_count, v2.accuracy) == (2, 2, None)
    assert v2.mae == pytest.approx(1.5) and v2.rmse == pytest.approx((5 / 2) ** 0.5)
    assert report.start_time <= when < report.end_time
    by_country = client.production_metrics(
        project, model, version=1, since=timedelta(days=1), by="country", bucket="hour"
    )
    assert {(r.attribute_value, r.count) for r in by_country.rows} == {("kr", 2), ("us", 2)}
    with pytest.raises(ValueError, match="bucket"):
        client.production_metrics(project, model, bucket="week")
    # The CLI prints the table.
    target = client_target(client)
    args = [
        "--target",
        target,
        "prod",
        "metrics",
        project,
        model,
        "--since",
        "1d",
        "--by",
        "version",
    ]
    assert cli_main(args) == 0
    out = capsys.readouterr().out
    assert "ACCURACY" in out and "66.7%" in out and "P99_MS" in out
    assert cli_main(["--target", target, "prod", "records", project, model, "--limit", "3"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 4  # a header and 3 records


def test_time_arguments_of_the_cli() -> None:
    now = datetime.now(timezone.utc)
    assert abs((now - time_arg("24h")) - timedelta(hours=24)) < timedelta(minutes=1)
    assert abs((now - time_arg("7d")) - timedelta(days=7)) < timedelta(minutes=1)
    assert time_arg("2026-01-31T12:00:00Z") == datetime(2026, 1, 31, 12, tzinfo=timezone.utc)
    assert time_arg("2026-01-31T12:00:00") == datetime(2026, 1, 31, 12, tzinfo=timezone.utc)


@pytest.fixture
def late_server(database_url: str) -> Iterator[Callable[[], ServerThread]]:
    """A port no server listens on yet, and a function that starts one on it."""
    port = free_port()
    started: list[ServerThread] = []

    def start() -> ServerThread:
        server = ServerThread(
            Settings(listen=f"127.0.0.1:{port}", database_url=database_url)
        ).start()
        started.append(server)
        return server

    start.target = f"127.0.0.1:{port}"  # type: ignore[attr-defined]
    yield start
    for server in started:
        server.stop()


def test_records_logged_while_no_server_is_up_are_delivered_once_one_is(
    sync_client: modelreg.Client,
    project: str,
    model: str,
    database_url: str,
    late_server: Callable[[], ServerThread],
) -> None:
    target: str = late_server.target  # type: ignore[attr-defined]
    logger = modelreg.InferenceLogger(
        target, project, model, 2, options=modelreg.LoggerOptions(max_backoff_s=0.2)
    )
    try:
        ids = [logger.log(prediction=float(i), request_id=f"r{i}") for i in range(20_000)]
        # Every log() returned and buffered its record; nothing could be sent.
        s = logger.stats()
        assert (s.logged, s.pending, s.dropped, s.acked) == (20_000, 20_000, 0, 0)
        wait_until(lambda: logger.stats().last_error.startswith("UNAVAILABLE"), "a failed dial")
        late_server()
        assert logger.flush(timeout=WAIT_S)
        s = logger.stats()
        assert (s.acked, s.accepted, s.dropped, s.pending) == (20_000, 20_000, 0, 0)
        assert s.reconnects >= 1
    finally:
        logger.close(timeout=WAIT_S)
    assert exactly_once(database_url, project) == (20_000, 20_000)
    assert {r[0] for r in stored(database_url, project)} == set(ids)


def test_the_drop_policy_counts_what_a_full_buffer_dropped(
    project: str, model: str, database_url: str, late_server: Callable[[], ServerThread]
) -> None:
    target: str = late_server.target  # type: ignore[attr-defined]
    options = modelreg.LoggerOptions(max_buffer_records=1_000, max_backoff_s=0.2)
    logger = modelreg.InferenceLogger(target, project, model, 1, options=options)
    try:
        ids = [logger.log(prediction=1.0) for _ in range(1_500)]
        s = logger.stats()
        assert (s.logged, s.dropped, s.dropped_full, s.pending) == (1_500, 500, 500, 1_000)
        late_server()
        assert logger.flush(timeout=WAIT_S)
        s = logger.stats()
        assert (s.acked, s.dropped_full, s.pending) == (1_000, 500, 0)
        invariant(s)
    finally:
        logger.close(timeout=WAIT_S)
    # The oldest thousand were kept; the newest were dropped.
    assert {r[0] for r in stored(database_url, project)} == set(ids[:1_000])


def test_a_batch_over_the_servers_request_limit_is_given_up_not_resent_forever(
    sync_client: modelreg.Client, project: str, model: str, database_url: str
) -> None:
    """batch_bytes set above the server's 4 MiB request limit: the server refuses the
    batch (RESOURCE_EXHAUSTED, REQUEST_TOO_LARGE) however often it is sent, so after a
    few attempts it is counted as failed and the records after it still arrive."""
    blob = {"blob": "x" * 1_000_000}
    options = modelreg.LoggerOptions(batch_bytes=8 * 1024 * 1024, max_backoff_s=0.2)
    logger = modelreg.InferenceLogger(sync_client.target, project, model, 1, options=options)
    try:
        for _ in range(5):
            logger.log(inputs=blob)
        assert logger.flush(timeout=WAIT_S)
        s = logger.stats()
        assert (s.failed, s.acked) == (5, 0), s
        assert "MODELREG_MAX_REQUEST_BYTES_PRODUCTION" in s.last_error
        after = logger.log(prediction=1.0)
        assert logger.flush(timeout=WAIT_S)
        s = logger.stats()
        assert (s.failed, s.acked, s.pending) == (5, 1, 0)
        invariant(s)
    finally:
        logger.close(timeout=WAIT_S)
    assert [r[0] for r in stored(database_url, project)] == [after]


def test_the_block_policy_waits_for_room_and_loses_nothing(
    project: str, model: str, database_url: str, late_server: Callable[[], ServerThread]
) -> None:
    target: str = late_server.target  # type: ignore[attr-defined]
    options = modelreg.LoggerOptions(
        max_buffer_records=1_000,
        batch_records=100,
        on_full="block",
        block_timeout_s=WAIT_S,
        max_backoff_s=0.2,
    )
    logger = modelreg.InferenceLogger(target, project, model, 1, options=options)
    done = threading.Event()
    ids: list[str] = []

    def log_more() -> None:
        ids.extend(logger.log(prediction=2.0) for _ in range(2_000))
        done.set()

    try:
        ids.extend(logger.log(prediction=1.0) for _ in range(1_000))
        worker = threading.Thread(target=log_more)
        worker.start()
        # The buffer is full and no server is up: the worker's log() is blocked.
        assert not done.wait(0.3)
        assert logger.stats().logged == 1_000
        late_server()
        assert done.wait(WAIT_S)
        worker.join()
        assert logger.flush(timeout=WAIT_S)
        s = logger.stats()
        assert (s.logged, s.acked, s.dropped) == (3_000, 3_000, 0)
    finally:
        logger.close(timeout=WAIT_S)
    assert exactly_once(database_url, project) == (3_000, 3_000)
    # With a short block_timeout_s, a full buffer drops after waiting.
    short = modelreg.InferenceLogger(
        "127.0.0.1:1",
        project,
        model,
        1,
        options=modelreg.LoggerOptions(
            max_buffer_records=10, on_full="block", block_timeout_s=0.01
        ),
    )
    for _ in range(11):
        short.log()
    assert short.stats().dropped_full == 1
    short.close(timeout=0.1)


EXIT_SCRIPT = """
import sys
import modelreg
target, project, model = sys.argv[1:4]
with modelreg.Client(target) as client:
    logger = client.inference_logger(project, model, flush_interval_s=60)
for i in range(1000):
    logger.log(prediction=float(i))
print(logger.stats().pending)
# No flush, no close: the records wait for a batch to fill or a minute to pass, and the
# interpreter's exit flushes them.
"""


def test_records_still_buffered_at_exit_are_flushed_then(
    target: str, project: str, model: str, database_url: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-c", EXIT_SCRIPT, target, project, model],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["1000"]
    assert exactly_once(database_url, project) == (1000, 1000)


FORK_SCRIPT = """
import json, os, sys
import modelreg
target, project, model = sys.argv[1:4]
with modelreg.Client(target) as client:
    logger = client.inference_logger(project, model)
parent_ids = [logger.log(prediction=1.0, attributes={"who": "parent"}) for _ in range(300)]
read, write = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(read)
    first = logger.stats().logged  # an empty buffer, zeroed counters
    ids = [logger.log(prediction=2.0, attributes={"who": "child"}) for _ in range(200)]
    flushed = logger.close(timeout=60)
    s = logger.stats()
    os.write(write, json.dumps({"ids": ids, "first": first, "flushed": flushed,
                                "acked": s.acked, "writer": logger.writer_id}).encode())
    os._exit(0)
os.close(write)
with os.fdopen(read) as pipe:
    child = json.loads(pipe.read() or "null")
_, status = os.waitpid(pid, 0)
parent_ids += [logger.log(prediction=1.0, attributes={"who": "parent"}) for _ in range(300)]
flushed = logger.close(timeout=60)
s = logger.stats()
print(json.dumps({"child": child, "status": os.waitstatus_to_exitcode(status),
                  "parent": {"ids": parent_ids, "flushed": flushed, "acked": s.acked,
                             "writer": logger.writer_id}}))
"""


def test_a_forked_child_logs_through_its_own_channel_and_its_records_arrive(
    target: str, project: str, model: str, database_url: str
) -> None:
    # A clean process of its own: the serving process that forks workers.
    result = subprocess.run(
        [sys.executable, "-c", FORK_SCRIPT, target, project, model],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    child, parent = report["child"], report["parent"]
    assert report["status"] == 0 and child is not None, result.stderr[-3000:]
    assert child["first"] == 0 and child["flushed"] and child["acked"] == 200
    assert parent["flushed"] and parent["acked"] == 600
    assert child["writer"] != parent["writer"]
    assert exactly_once(database_url, project) == (800, 800)
    rows = sql(
        database_url,
        "SELECT attributes->>'who', count(*) FROM inference_records r "
        "JOIN projects p ON p.id = r.project_id WHERE p.name = $1 GROUP BY 1",
        project,
    )
    assert dict((k, int(v)) for k, v in rows) == {"parent": 600, "child": 200}
    assert {r[0] for r in stored(database_url, project)} == set(child["ids"]) | set(parent["ids"])
