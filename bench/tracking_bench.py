"""Experiment tracking figures, each against a baseline measured in the same run.

Part of ``make bench`` (bench/registry_bench.py runs it after the registry figures,
on the same server, echo server and client):

- whole-run: ``with client.start_run(...)``: start, 10 params, 50 metrics at one
  step, one version registered from the run, end, as one timed operation. Its p50
  against the echo p50: the target is at most 10 echo round trips.
- best-version: ``client.best_version`` (RankModelVersions, one row) over a model
  of 10,000 versions, each evaluated on 5 dataset versions; target at most 4x echo.
- runs-list-1000: ``list(client.list_runs(...))`` of a project with 1,000 runs,
  each with params, a latest metric and one output version, through the SDK's
  default page size; target at most 40x echo.
- metric points/s: one run logs ``POINTS`` points through ``run.log_metrics``
  (10 keys a step) and flushes; points/s over the wall time from the first call
  to the last flushed point, against ``asyncpg`` COPY of the same number of rows
  into a scratch table of the same shape in the same run. Target: 100,000 points/s.

The 10,000 evaluated versions are written straight into the tables (as
bench/bulk.py does for versions): what CreateEvaluation writes, an evaluation row
and its version_scores rows, for each version and dataset version.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

import modelreg
from bench.bulk import add_versions
from bench.harness import Call, Result
from modelreg_server.testing import asyncpg_dsn

RANKED_VERSIONS = 10_000
DATASETS = 5
RUNS = 1_000
POINTS = 200_000
KEYS = 10
# (operation, max p50 ratio against the echo p50)
TARGETS: tuple[tuple[str, float], ...] = (
    ("whole-run", 10.0),
    ("best-version", 4.0),
    ("runs-list-1000", 40.0),
)
POINTS_TARGET = 100_000.0
PARAMS10: dict[str, float | int | str] = {
    "lr": 0.01, "epochs": 10, "batch_size": 32, "dropout": 0.1, "warmup": 400,
    "optimizer": "adamw", "layers": 6, "heads": 8, "fp16": 1, "seed": 7,
}  # fmt: skip
METRICS50 = {f"m{i:02d}": 0.5 + i / 100 for i in range(50)}

_EVALUATIONS = """
INSERT INTO evaluations (version_id, evaluation_id, dataset_version_id, metrics, created_by)
SELECT mv.id, 'eval_' || d.n, d.id,
       jsonb_build_object('precision', (mv.version * 7919 + d.n * 104729) % 100003 / 100003.0),
       'bench'
FROM model_versions mv, unnest($2::bigint[]) WITH ORDINALITY AS d(id, n)
WHERE mv.model_id = $1
"""
_SCORES = """
INSERT INTO version_scores (version_id, dataset_version_id, slice, key, value, evaluation_id)
SELECT e.version_id, e.dataset_version_id, '', 'precision', (e.metrics ->> 'precision')::float8,
       e.id
FROM evaluations e JOIN model_versions mv ON mv.id = e.version_id
WHERE mv.model_id = $1
"""


@dataclass(frozen=True)
class Rate:
    name: str
    points: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.points / self.seconds if self.seconds else 0.0


def setup(client: modelreg.Client, admin_url: str, project: str) -> list[modelreg.DatasetVersion]:
    """The evaluated model and the 1,000-run project part of the workload."""
    datasets = [
        client.create_dataset_version(project, f"test{i}", uri=f"s3://bench/test{i}.parquet")
        for i in range(DATASETS)
    ]
    client.register_model_version(project, "ranked", artifact_uri="s3://bench/r1.pt")
    print(
        f"  writing {RANKED_VERSIONS:,} versions of model 'ranked' evaluated on "
        f"{DATASETS} dataset versions ...",
        flush=True,
    )
    asyncio.run(_evaluated(admin_url, project, datasets))
    listed_runs(client, project)
    return datasets


def listed_runs(client: modelreg.Client, project: str) -> None:
    """The 1,000 runs of runs-list-1000: params, an input, a latest metric and an
    output version each."""
    print(f"  starting {RUNS:,} runs through the SDK ...", flush=True)
    train = client.create_dataset_version(project, "train", uri="s3://bench/train.parquet")
    for i in range(RUNS):
        with client.start_run(
            project, experiment="listed", params={"lr": 0.001 * (i % 50 + 1), "epochs": 10},
            inputs=[train],
        ) as run:  # fmt: skip
            run.log_metrics({"bleu": 20 + i % 17}, step=1)
            run.register_model_version("run_outputs", artifact_uri=f"s3://bench/l{i}.pt")


def list_listed(client: modelreg.Client, project: str) -> list[str]:
    """runs-list-1000 once: every listed run through the SDK, reading its run_id."""
    runs = [r.run_id for r in client.list_runs(project, filter='experiment = "listed"')]
    if len(runs) != RUNS:
        raise AssertionError(f"listed {len(runs)} runs, expected {RUNS}")
    return runs


async def _evaluated(
    admin_url: str, project: str, datasets: Sequence[modelreg.DatasetVersion]
) -> None:
    dsn = asyncpg_dsn(admin_url)
    await add_versions(dsn, project, "ranked", RANKED_VERSIONS - 1)
    conn = await asyncpg.connect(dsn)
    try:
        model_id = await conn.fetchval(
            "SELECT m.id FROM models m JOIN projects p ON p.id = m.project_id "
            "WHERE p.name = $1 AND m.name = 'ranked'",
            project,
        )
        ids = [
            await conn.fetchval(
                "SELECT dv.id FROM dataset_versions dv JOIN datasets s ON s.id = dv.dataset_id "
                "JOIN projects p ON p.id = s.project_id "
                "WHERE p.name = $1 AND s.name = $2 AND dv.version = $3",
                project,
                d.dataset,
                d.version,
            )
            for d in datasets
        ]
        async with conn.transaction():
            await conn.execute(_EVALUATIONS, model_id, ids)
            await conn.execute(_SCORES, model_id)
        for table in ("model_versions", "evaluations", "version_scores"):
            await conn.execute(f"ANALYZE {table}")
    finally:
        await conn.close()


def plan(
    client: modelreg.Client,
    project: str,
    datasets: Sequence[modelreg.DatasetVersion],
    calls: int,
) -> list[tuple[str, Call, int]]:
    def whole_run(i: int) -> object:
        with client.start_run(project, params=PARAMS10) as run:
            run.log_metrics(METRICS50, step=1)
            run.register_model_version("whole", artifact_uri=f"s3://bench/w{i}.pt")
        return run

    def best(i: int) -> object:
        return client.best_version(
            project, "ranked", metric="precision", dataset=datasets[i % DATASETS], goal="max"
        )

    def listed(_: int) -> object:
        return list_listed(client, project)

    return [
        ("whole-run", whole_run, calls),
        ("best-version", best, calls * 2),
        ("runs-list-1000", listed, max(10, calls // 10)),
    ]


def metric_rates(client: modelreg.Client, project: str, admin_url: str) -> list[Rate]:
    """Points/s through ``log_metrics`` batching, and raw COPY of as many rows."""
    steps = POINTS // KEYS
    with client.start_run(project, experiment="points") as run:
        start = time.perf_counter()
        for step in range(steps):
            run.log_metrics({f"k{k}": step * 0.001 + k for k in range(KEYS)}, step=step)
        run.flush()
        logged = time.perf_counter() - start
    last = list(client.metric_history(project, run.run_id, "k3", page_size=10_000))
    if len(last) != steps or last[-1].step != steps - 1:
        raise AssertionError(f"history of k3 has {len(last)} points, expected {steps}")
    copy = asyncio.run(_copy_seconds(admin_url, POINTS))
    return [Rate("log_metrics", POINTS, logged), Rate("raw COPY", POINTS, copy)]


async def _copy_seconds(admin_url: str, points: int) -> float:
    """COPY ``points`` rows shaped like run_metrics into a scratch table, in 10,000-row
    batches (the SDK's batch size), one transaction each."""
    from datetime import datetime, timezone

    conn = await asyncpg.connect(asyncpg_dsn(admin_url))
    now = datetime.now(timezone.utc)
    try:
        await conn.execute(
            "CREATE TEMP TABLE scratch_metrics (run_id bigint, key text, step bigint, "
            "id bigint GENERATED BY DEFAULT AS IDENTITY, value float8, time timestamptz, "
            "PRIMARY KEY (run_id, key, step, id))"
        )
        rows = [(1, f"k{i % KEYS}", i // KEYS, i * 0.001, now) for i in range(points)]
        start = time.perf_counter()
        for first in range(0, points, 10_000):
            async with conn.transaction():
                await conn.copy_records_to_table(
                    "scratch_metrics",
                    records=rows[first : first + 10_000],
                    columns=["run_id", "key", "step", "value", "time"],
                )
        return time.perf_counter() - start
    finally:
        await conn.close()


def print_targets(results: Sequence[Result], rates: Sequence[Rate]) -> None:
    by_name = {r.name: r for r in results}
    print("tracking targets (p50 against the echo p50 measured alongside, same run)")
    for name, limit in TARGETS:
        r = by_name[name]
        verdict = "PASS" if r.ratio <= limit else "MISS"
        print(
            f"  {verdict}  {name:<15} p50 {r.percentile_ms(50):.3f} ms = {r.ratio:.2f}x echo "
            f"(target <= {limit:g}x)"
        )
    logged, copy = rates
    verdict = "PASS" if logged.rate >= POINTS_TARGET else "MISS"
    print(
        f"  {verdict}  metric points    {logged.rate:,.0f} points/s through log_metrics "
        f"({logged.points:,} points in {logged.seconds:.2f} s) = {logged.rate / copy.rate:.2f}x "
        f"raw COPY of the same rows ({copy.rate:,.0f} rows/s; target >= "
        f"{POINTS_TARGET:,.0f} points/s)"
    )
