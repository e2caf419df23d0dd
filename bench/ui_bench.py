"""The dashboard's experiment table over 1,000 runs against the API calls it makes, in
the same run.

Part of ``make bench`` (bench/registry_bench.py calls ``run``); alone: ``python -m
bench.ui_bench [--quick]``. A server process of its own on a fresh database; a project
of 1,000 runs built through the API (three params, loss and accuracy over 10 steps, one
model version produced by each, evaluated on a test dataset version). Then, on one event
loop in this process, timed in blocks that alternate which goes first:

- page: ``GET /projects/{p}/runs?metric=accuracy&dataset=<test>&sort=-score`` through the
  dashboard's ASGI app in process (httpx.ASGITransport): every run read, scored by its
  version's evaluation, sorted by score, page 1 (50 rows) rendered;
- calls: the SDK calls that page makes, on the app's own AsyncClient, concurrently as
  the page makes them: ListRuns (one page of 1,000), RankModelVersions over the project
  (1,000 ranked versions) and ListDatasetVersions (the score select).

The difference is the dashboard's own work: reading the runs' fields, scoring, sorting,
rendering one page, HTTP. Target: page p50 at most 1.5x the calls' p50.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import httpx

import modelreg
from bench import throughput
from bench.harness import ROUNDS, Result, share
from modelreg_server.testing import fresh_database
from modelreg_ui import UiSettings, create_app

RUNS = 1_000
STEPS = 10
BUILDERS = 16  # runs written at once while building the project
TARGET = 1.5
PAGE_SIZE = 1_000


@dataclass(frozen=True)
class Figures:
    page: Result
    calls: Result
    runs: int
    build_s: float

    @property
    def ratio(self) -> float:
        return self.page.percentile_ms(50) / self.calls.percentile_ms(50)


async def _build(target: str) -> tuple[str, str]:
    """The project of RUNS runs; its name and the test dataset version's name."""
    async with modelreg.AsyncClient(target, actor="bench", timeout=60) as api:
        project = f"ui_bench_{uuid.uuid4().hex[:8]}"
        await api.create_project(project)
        train = await api.create_dataset_version(project, "train", uri="s3://d/train")
        test = await api.create_dataset_version(project, "test", uri="s3://d/test")
        gate = asyncio.Semaphore(BUILDERS)

        async def one(i: int) -> None:
            lr = (0.001, 0.003, 0.01, 0.03, 0.1)[i % 5]
            params = {"lr": lr, "batch": (16, 32, 64, 128)[i % 4], "optimizer": "adam"}
            async with gate, api.start_run(project, params=params, inputs=[train]) as run:
                for step in range(STEPS):
                    loss = (1 + lr * 10) / (1 + step) + i * 1e-5
                    run.log_metrics({"loss": loss, "accuracy": 1 - loss / 2}, step=step)
                version = await run.register_model_version(
                    "clf", artifact_uri=f"s3://models/clf/{i}.pt"
                )
                score = 0.5 + (i * 7919 % 1000) / 2000
                await api.log_evaluation(version, dataset=test, metrics={"accuracy": score})

        await asyncio.gather(*(one(i) for i in range(RUNS)))
        return project, test.resource_name


async def _measure(
    target: str, project: str, dataset: str, calls: int, max_seconds: float
) -> tuple[Result, Result]:
    app = create_app(UiSettings(target=target, timeout_s=60))
    api: modelreg.AsyncClient = app.state.pool.client(None)  # what the page calls with
    url = f"/projects/{project}/runs"
    query = {"metric": "accuracy", "dataset": dataset, "sort": "-score"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ui") as http:

        async def page() -> httpx.Response:
            response = await http.get(url, params=query)
            if response.status_code != 200:
                raise AssertionError(f"{response.status_code}: {response.text[:500]}")
            return response

        async def runs() -> list[modelreg.Run]:
            # The page's ListRuns calls: pages of 1,000, newest first.
            listing = api.list_runs(project, order_by="start_time desc", page_size=PAGE_SIZE)
            return [run async for run in listing]

        async def ranked() -> list[modelreg.RankedVersion]:
            ranking = api.rank_versions(
                project, None, metric="accuracy", dataset=dataset, goal="max", page_size=PAGE_SIZE
            )
            return [r async for r in ranking]

        async def api_calls() -> tuple[
            list[modelreg.Run], list[modelreg.RankedVersion], modelreg.Page[modelreg.DatasetVersion]
        ]:
            return await asyncio.gather(
                runs(), ranked(), api.list_dataset_versions(project).page(page_size=PAGE_SIZE)
            )

        checked = (await page()).text
        if checked.count("<tr data-run=") != 50:
            raise AssertionError("the page does not show 50 rows")
        got_runs, got_ranked, _ = await api_calls()
        if len(got_runs) != RUNS or len(got_ranked) != RUNS:
            raise AssertionError(f"{len(got_runs)} runs, {len(got_ranked)} ranked")
        for _ in range(5):
            await page()
            await api_calls()
        gc.collect()
        samples: dict[str, list[float]] = {"page": [], "calls": []}
        walls = {"page": 0.0, "calls": 0.0}
        fns: dict[str, Callable[[], Awaitable[object]]] = {"page": page, "calls": api_calls}
        clock = time.perf_counter
        deadline = clock() + max_seconds
        for r in range(ROUNDS * 2):
            if clock() > deadline:
                break
            n = share(calls, ROUNDS * 2, r)
            # Alternate which goes first, so neither always follows the other.
            for name in ("page", "calls") if r % 2 == 0 else ("calls", "page"):
                start = clock()
                for _ in range(n):
                    t0 = clock()
                    await fns[name]()
                    samples[name].append(clock() - t0)
                walls[name] += clock() - start
    await app.state.pool.close()
    return (
        Result("runs-table page", sorted(samples["page"]), walls["page"]),
        Result("its API calls", sorted(samples["calls"]), walls["calls"]),
    )


def run(admin_url: str, *, quick: bool, max_seconds: float) -> Figures:
    calls = 20 if quick else 100
    with fresh_database(admin_url) as url, throughput.server_process(url, workers=1) as target:
        print(f"  building a project of {RUNS:,} runs through the API ...", flush=True)
        began = time.perf_counter()
        project, dataset = asyncio.run(_build(target))
        build_s = time.perf_counter() - began
        print(f"  ... in {build_s:.1f} s; timing the runs table against its calls", flush=True)
        page, api = asyncio.run(_measure(target, project, dataset, calls, max_seconds))
    return Figures(page, api, RUNS, build_s)


def print_figures(figures: Figures) -> None:
    ratio = figures.ratio
    verdict = "PASS" if ratio <= TARGET else "MISS"
    print(
        f"dashboard (experiment table of {figures.runs:,} runs scored on a dataset, sorted by "
        "score, page 1; same run, alternating blocks)"
    )
    for r in (figures.page, figures.calls):
        print(
            f"  {r.name:<16} p50 {r.percentile_ms(50):.3f} ms  p99 {r.percentile_ms(99):.3f} ms "
            f"({r.calls} calls)"
        )
    print(
        f"  {verdict}  runs table      p50 page = {ratio:.3f}x its API calls "
        f"(+{(ratio - 1) * 100:.1f}%; target <= {TARGET:.2f}x)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    from bench.registry_bench import database_server

    parser = argparse.ArgumentParser(prog="python -m bench.ui_bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="20 timed pages, not 100")
    parser.add_argument("--max-seconds", type=float, default=120.0)
    args = parser.parse_args(argv)
    with database_server() as db:
        figures = run(db.admin_url, quick=args.quick, max_seconds=args.max_seconds)
    print()
    print_figures(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
