"""Production tracking figures, each against a baseline measured in the same run.

Part of ``make bench``: bench/registry_bench.py calls ``run`` after the registry and
tracking figures, with the same echo server; it starts a server process of its own
on a fresh database (so that the CPU the logger spends in this process is the
SDK's alone):

- prod-metrics-1m: ``GetProductionMetrics`` of a deployment's model over
  ``RECORDS`` records spread over 7 days (two versions under a 50/50 split, a
  tenth with feedback), grouped by version and day. Its p50 against the echo p50:
  the target is under 50 echo round trips. The records go in through
  ``WriteInferenceRecordBatch`` (10,000 a call), so the hourly rollups the query
  reads are the ones ingest maintains.
- ingest: ``SDK_RECORDS`` records through ``InferenceLogger.log`` (``on_full="block"``,
  so nothing is dropped) until ``flush()`` returns, in records/s, against raw
  asyncpg of the same rows into the same table with the same deduplication: COPY of
  each batch (the logger's batch size) into a temporary table shaped like
  ``inference_records``, then ``INSERT ... ON CONFLICT DO NOTHING``, one transaction
  per batch. Target: at least 70% of the raw rate.
- the logger on the serving path (bench/logger_bench.py): ``log()`` p50 and p99 in
  the calling thread against a bare ``deque.append`` timed the same way, the
  logger thread's CPU time per record, and the peak RSS of a process holding a
  100,000-record buffer.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import asyncpg
import grpc
from google.protobuf.timestamp_pb2 import Timestamp

import modelreg
from bench import logger_bench, throughput
from bench.harness import ECHO_METHOD, ECHO_PAYLOAD, ROUNDS, Result, measure
from modelreg.api.v1 import production_service_pb2 as prod
from modelreg.api.v1 import resources_pb2 as pb
from modelreg_server.testing import asyncpg_dsn, fresh_database

RECORDS = 1_000_000
SDK_RECORDS = 200_000
DAYS = 7
BATCH = 10_000
FEEDBACK_SHARE = 0.1
COUNTRIES = ("kr", "us", "de", "jp", "br")
TARGETS: tuple[tuple[str, float], ...] = (("prod-metrics-1m", 50.0),)
INGEST_TARGET = 0.70
LOG_P99_TARGET_US = 10.0


@dataclass(frozen=True)
class Rate:
    name: str
    records: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class Served:
    project: str
    model: str
    start: datetime
    end: datetime


def _ts(when: datetime) -> Timestamp:
    t = Timestamp()
    t.FromDatetime(when)
    return t


def setup(client: modelreg.Client, project: str) -> Served:
    """Model ``served_prod`` with two versions under deployment ``prod`` (50/50), and
    RECORDS records over the last DAYS days, FEEDBACK_SHARE of them with feedback."""
    model = "served_prod"
    for i in (1, 2):
        client.register_model_version(project, model, artifact_uri=f"s3://bench/p{i}.pt")
    client.create_deployment(project, "prod", model=model, traffic={1: 50, 2: 50})
    end = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=DAYS)
    span_us = int((end - start).total_seconds() * 1e6) - 1
    rng = random.Random(8)
    print(
        f"  writing {RECORDS:,} inference records over {DAYS} days through "
        f"WriteInferenceRecordBatch ({BATCH:,} a call) ...",
        flush=True,
    )
    began = time.perf_counter()
    feedback: list[pb.Feedback] = []
    for first in range(0, RECORDS, BATCH):
        request = prod.WriteInferenceRecordBatchRequest(
            parent=f"projects/{project}", writer_id="bench", batch_seq=first // BATCH
        )
        for i in range(first, min(RECORDS, first + BATCH)):
            rid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            us = int(start.timestamp() * 1e6) + rng.randint(0, span_us)
            r = request.records.add(
                record_id=rid,
                model=model,
                version=1 + i % 2,
                deployment="prod",
                predicted_label=COUNTRIES[i % 3],
                latency_ms=rng.lognormvariate(2.5, 0.5),
                inputs=b'{"text":"bench"}',
            )
            r.event_time.FromMicroseconds(us)
            r.attributes["country"] = COUNTRIES[i % len(COUNTRIES)]
            if rng.random() < FEEDBACK_SHARE:
                feedback.append(pb.Feedback(record_id=rid, true_label=COUNTRIES[i % 2]))
        response = client.production_stub.WriteInferenceRecordBatch(request, timeout=120)
        if response.accepted != len(request.records):
            raise AssertionError(f"batch {first // BATCH}: {response}")
    for first in range(0, len(feedback), BATCH):
        done = client.production_stub.WriteFeedback(
            prod.WriteFeedbackRequest(
                parent=f"projects/{project}", feedback=feedback[first : first + BATCH]
            ),
            timeout=120,
        )
        if done.errors:
            raise AssertionError(f"feedback: {done.errors[0]}")
    print(
        f"  ... {RECORDS:,} records and {len(feedback):,} feedback items in "
        f"{time.perf_counter() - began:.1f} s",
        flush=True,
    )
    return Served(project, model, start, end)


def _metrics_request(served: Served) -> prod.GetProductionMetricsRequest:
    return prod.GetProductionMetricsRequest(
        parent=f"projects/{served.project}/models/{served.model}",
        deployment="prod",
        start_time=_ts(served.start),
        end_time=_ts(served.end),
        bucket=prod.GetProductionMetricsRequest.BUCKET_DAY,
        group_by_version=True,
    )


def check_metrics(client: modelreg.Client, served: Served) -> None:
    """The measured call sees every record (the figure is of a real answer)."""
    rows = client.production_stub.GetProductionMetrics(_metrics_request(served), timeout=60).rows
    total = sum(r.count for r in rows)
    if total != RECORDS or {r.version for r in rows} != {1, 2}:
        raise AssertionError(f"metrics saw {total} records in {len(rows)} rows")


def measure_metrics(
    client: modelreg.Client, served: Served, echo_target: str, calls: int, max_seconds: float
) -> Result:
    """prod-metrics-1m, timed in blocks interleaved with echo blocks."""
    check_metrics(client, served)
    request = _metrics_request(served)
    stub = client.production_stub

    def metrics(_: int) -> object:
        return stub.GetProductionMetrics(request, timeout=60)

    with grpc.insecure_channel(echo_target) as channel:
        echo_stub = channel.unary_unary(ECHO_METHOD)

        def echo(_: int) -> object:
            return echo_stub(ECHO_PAYLOAD, timeout=10)

        for i in range(20):
            echo(i)
        return measure(
            "prod-metrics-1m",
            metrics,
            calls,
            echo,
            calls * 2,
            rounds=ROUNDS,
            warmup=max(5, calls // 10),
            max_seconds=max_seconds,
        )


def ingest_rates(client: modelreg.Client, project: str, admin_url: str) -> list[Rate]:
    """Records/s through the logger, then raw COPY + dedup of as many rows."""
    model = "logged_prod"
    client.register_model_version(project, model, artifact_uri="s3://bench/logged.pt")
    logger = client.inference_logger(
        project, model, version=1, on_full="block", block_timeout_s=60.0
    )
    batch = modelreg.LoggerOptions().batch_records
    inputs = {"text": "a sentence to translate, of some length"}
    outputs = {"text": "eine Übersetzung"}
    attributes = {"country": "kr", "device": "ios"}
    start = time.perf_counter()
    for i in range(SDK_RECORDS):
        logger.log(
            inputs=inputs,
            outputs=outputs,
            prediction="positive",
            latency_ms=12.5,
            request_id=f"r{i}",
            attributes=attributes,
        )
    logger.flush()
    logged = time.perf_counter() - start
    stats = logger.stats()
    logger.close()
    if stats.dropped or stats.rejected or stats.acked != SDK_RECORDS:
        raise AssertionError(f"logger stats {stats}")
    copy = asyncio.run(_copy_seconds(admin_url, project, model, batch))
    return [Rate("InferenceLogger", SDK_RECORDS, logged), Rate("raw COPY", SDK_RECORDS, copy)]


async def _copy_seconds(admin_url: str, project: str, model: str, batch: int) -> float:
    """COPY SDK_RECORDS rows like the logger's into a temporary table shaped like
    inference_records, then insert them with ON CONFLICT DO NOTHING, ``batch`` rows
    per transaction."""
    conn = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        pid, mid = await conn.fetchrow(
            "SELECT p.id, m.id FROM models m JOIN projects p ON p.id = m.project_id "
            "WHERE p.name = $1 AND m.name = $2",
            project,
            model,
        )
        await conn.execute(
            "CREATE TEMP TABLE raw_stage (LIKE inference_records INCLUDING DEFAULTS) "
            "ON COMMIT DELETE ROWS"
        )
        now = datetime.now(timezone.utc)
        columns = (
            "record_id", "event_time", "project_id", "model_id", "version", "request_id",
            "inputs", "outputs", "predicted_label", "latency_ms", "attributes", "writer_id",
        )  # fmt: skip
        rows = [
            (
                uuid.uuid4(),
                now,
                pid,
                mid,
                1,
                f"r{i}",
                '{"text":"a sentence to translate, of some length"}',
                '{"text":"eine \\u00dcbersetzung"}',
                "positive",
                12.5,
                '{"country":"kr","device":"ios"}',
                "raw",
            )
            for i in range(SDK_RECORDS)
        ]
        start = time.perf_counter()
        for first in range(0, SDK_RECORDS, batch):
            async with conn.transaction():
                await conn.copy_records_to_table(
                    "raw_stage", records=rows[first : first + batch], columns=columns
                )
                await conn.execute(
                    "INSERT INTO inference_records SELECT * FROM raw_stage ON CONFLICT DO NOTHING"
                )
        seconds = time.perf_counter() - start
        stored = await conn.fetchval(
            "SELECT count(*) FROM inference_records WHERE model_id = $1 AND writer_id = 'raw'",
            mid,
        )
        if stored != SDK_RECORDS:
            raise AssertionError(f"raw COPY stored {stored} rows")
        return seconds
    finally:
        await conn.close()


def print_targets(f: Figures) -> None:
    print("production targets (each against its baseline measured in the same run)")
    for name, limit in TARGETS:
        r = f.metrics
        verdict = "PASS" if r.ratio < limit else "MISS"
        echo_ms = r.echo.percentile_ms(50) if r.echo is not None else float("nan")
        print(
            f"  {verdict}  {name:<15} p50 {r.percentile_ms(50):.3f} ms = {r.ratio:.2f}x echo "
            f"(echo {echo_ms:.3f} ms; target < {limit:g}x; {RECORDS:,} records by version and day)"
        )
    logged, copy = f.rates
    share = logged.rate / copy.rate if copy.rate else 0.0
    verdict = "PASS" if share >= INGEST_TARGET else "MISS"
    print(
        f"  {verdict}  ingest          {logged.rate:,.0f} records/s SDK to table "
        f"({logged.records:,} in {logged.seconds:.2f} s) = {share:.0%} of raw COPY + dedup of "
        f"the same rows ({copy.rate:,.0f} rows/s; target >= {INGEST_TARGET:.0%})"
    )
    log, base = f.log.log, f.log.deque_append
    verdict = "PASS" if log.p99_ns / 1000 < LOG_P99_TARGET_US else "MISS"
    print(
        f"  {verdict}  log() caller    p50 {log.p50_ns / 1000:.2f} us, "
        f"p99 {log.p99_ns / 1000:.2f} us over {log.calls:,} calls "
        f"(deque.append of the same tuple timed alike: p50 "
        f"{base.p50_ns / 1000:.2f} us, p99 {base.p99_ns / 1000:.2f} us; "
        f"target p99 < {LOG_P99_TARGET_US:g} us)"
    )
    s = f.sender
    print(
        f"  info  logger CPU      {s.background_us_per_record:.2f} us per record outside the "
        f"calling thread (the sender and gRPC's threads; the caller's: "
        f"{s.caller_us_per_record:.2f} us), {s.records_per_s:,.0f} records/s"
    )
    m = f.memory
    print(
        f"  info  buffer memory   peak RSS {m.peak_rss_bytes / 2**20:.0f} MB of a process holding "
        f"{m.records:,} unsent records ({m.baseline_rss_bytes / 2**20:.0f} MB before logging: "
        f"{m.per_record_bytes:,.0f} bytes a record)"
    )


@dataclass(frozen=True)
class Figures:
    metrics: Result
    rates: list[Rate]
    log: logger_bench.LogLatency
    sender: logger_bench.SenderCpu
    memory: logger_bench.BufferMemory


def run(admin_url: str, echo_target: str, *, quick: bool, max_seconds: float) -> Figures:
    """Every production figure, against a server process of its own on a fresh database."""
    calls = 20 if quick else 100
    log_calls = 20_000 if quick else 100_000
    with (
        fresh_database(admin_url) as url,
        throughput.server_process(url, workers=1) as target,
        modelreg.Client(target, actor="bench", timeout=60) as client,
    ):
        project = f"prod_bench_{uuid.uuid4().hex[:8]}"
        client.create_project(project)
        served = setup(client, project)
        print("  measuring prod-metrics-1m against echo ...", flush=True)
        metrics = measure_metrics(client, served, echo_target, calls, max_seconds)
        print(f"  measuring {SDK_RECORDS:,} records through InferenceLogger, and raw COPY ...")
        rates = ingest_rates(client, project, url)
        print("  measuring log() in the calling thread, and the logger thread's CPU ...")
        # Room for every call: log() timed on its ordinary path, never the drop path.
        room = 4 * log_calls
        with client.inference_logger(
            project, served.model, version=1, max_buffer_records=room
        ) as lg:
            log = logger_bench.log_latency(lg, log_calls)
        with client.inference_logger(
            project, served.model, version=1, max_buffer_records=room
        ) as lg:
            sender = logger_bench.sender_cpu(lg, log_calls)
    print("  measuring the peak memory of a process holding 100,000 unsent records ...")
    memory = logger_bench.full_buffer_memory(100_000)
    return Figures(metrics, rates, log, sender, memory)
