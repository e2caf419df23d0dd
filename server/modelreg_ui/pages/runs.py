"""The experiment table (``/projects/{p}/runs``) and a run's page (``.../runs/{run_id}``).

The table's query string is its whole state (filter, score, sort, page, the runs whose
curves are overlaid), so a URL shows someone else the same table; see run_table.py for
how it reads, scores and sorts the runs.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

import modelreg
from modelreg_ui.charts import line_chart
from modelreg_ui.pages import run_table as rt
from modelreg_ui.web import BadParam, client, render, with_query

# Dataset versions offered in the table's score select (the first page of the listing).
DATASET_CHOICES = 1_000


async def _history(
    api: modelreg.AsyncClient, project: str, run_id: str, key: str
) -> list[modelreg.Metric]:
    return [point async for point in api.metric_history(project, run_id, key)]


def _points(history: list[modelreg.Metric]) -> list[tuple[float, float | None]]:
    # NaN and infinities are kept by the API; a chart draws a gap there (JSON has no NaN).
    return [(float(m.step), rt.finite(m.value)) for m in history]


async def _overlay(
    api: modelreg.AsyncClient, project: str, runs: tuple[str, ...], key: str
) -> dict[str, Any]:
    """One chart of metric ``key`` of every selected run, by step."""

    async def one(run_id: str) -> list[modelreg.Metric]:
        try:
            return await _history(api, project, run_id, key)
        except modelreg.NotFoundError:
            raise BadParam("run", f"there is no run {run_id!r} in project {project}") from None

    histories = await asyncio.gather(*(one(r) for r in runs))
    series = {r: _points(h) for r, h in zip(runs, histories, strict=True)}
    return line_chart(f"{key} by step", series, x_label="step", y_label=key)


async def _dataset_versions(api: modelreg.AsyncClient, project: str) -> list[str]:
    page = await api.list_dataset_versions(project).page(page_size=DATASET_CHOICES)
    return [d.resource_name for d in page.items]


def _sort_link(request: Request, q: rt.TableQuery, column: str) -> str:
    """The header link of a column: sorts by it; a second click reverses."""
    if q.sort == column:
        desc = not q.desc
    elif column == "score":
        desc = q.goal is modelreg.Goal.MAXIMIZE  # the best first
    else:
        desc = column in rt.DESC_FIRST
    return with_query(request, sort=("-" if desc else "") + column, dir=None, page=None)


async def table(request: Request) -> Response:
    project = request.path_params["project"]
    q = rt.parse_query(request)
    api = client(request)
    (runs, capped), by_run, datasets = await asyncio.gather(
        rt.fetch_runs(api, project, q),
        rt.dataset_scores(api, project, q),
        _dataset_versions(api, project),
    )
    scores = rt.run_scores(runs, q, by_run)
    ordered = rt.sorted_runs(runs, q, scores)
    pages = max(1, math.ceil(len(ordered) / q.page_size))
    first = (q.page - 1) * q.page_size
    rows = ordered[first : first + q.page_size]
    # The metric keys of the page's rows (a project's runs mostly log the same keys): those
    # of every run would convert every run's metrics, the table's largest cost.
    keys = rt.metric_keys(rows)
    curve = q.curve or q.metric or (keys[0] if keys else "")
    overlay = await _overlay(api, project, q.selected, curve) if q.selected and curve else None
    columns = ["start_time", "run_id", "state", "score"] + [
        f"param.{k}" for k in rt.param_keys(rows)
    ]
    return render(
        request,
        "runs/table.html",
        {
            "project": project,
            "q": q,
            "rows": rows,
            "scores": scores,
            "total": len(ordered),
            "capped": capped,
            "max_runs": rt.MAX_RUNS,
            "pages": pages,
            "param_keys": rt.param_keys(rows),
            "metric_keys": keys,
            "datasets": datasets,
            "curve": curve,
            "overlay": overlay,
            "sort_links": {c: _sort_link(request, q, c) for c in columns},
            "prev": with_query(request, page=q.page - 1) if q.page > 1 else "",
            "next": with_query(request, page=q.page + 1) if q.page < pages else "",
            "first_page": with_query(request, page=None),
            "clear_overlay": with_query(request, run=None),
        },
    )


async def run_page(request: Request) -> Response:
    project = request.path_params["project"]
    run_id = request.path_params["run_id"]
    api = client(request)
    run = await api.get_run(project, run_id)
    keys = sorted(run.latest_metrics)
    histories = await asyncio.gather(*(_history(api, project, run_id, k) for k in keys))
    charts = [
        line_chart(key, {key: _points(h)}, x_label="step", y_label=key)
        for key, h in zip(keys, histories, strict=True)
    ]
    return render(request, "runs/run.html", {"project": project, "run": run, "charts": charts})


routes: list[BaseRoute] = [
    Route("/projects/{project}/runs", table, name="runs"),
    Route("/projects/{project}/runs/{run_id}", run_page, name="run"),
]
