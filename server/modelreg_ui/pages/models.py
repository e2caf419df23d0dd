"""A model's page: its facts, its versions (a server-side page), its aliases and their
history, versions compared side by side, and the best versions by a metric on a dataset.

The page's state is its query string: ``page_token``/``page_size`` (the versions table),
``compare=3&compare=5`` (the versions compared), ``differing=1`` (only the params that
differ), ``metric``, ``dataset`` (a dataset version's resource name), ``slice``, ``goal``
(``max`` or ``min``) and ``top`` (the ranking).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

import modelreg
from modelreg_ui.charts import bar_chart
from modelreg_ui.web import BadParam, client, int_param, page_args, render, with_query

# CompareModelVersions takes at most this many versions.
MAX_COMPARED = 100
DATASET_CHOICES = 200
DEFAULT_TOP = 10
GOALS = {"max": modelreg.Goal.MAXIMIZE, "min": modelreg.Goal.MINIMIZE}


@dataclass(frozen=True)
class Ranking:
    """The best versions by ``metric`` on ``dataset`` (and ``slice``), best first."""

    metric: str
    dataset: str
    slice: str
    goal: str
    ranked: tuple[modelreg.RankedVersion, ...]
    chart: dict[str, Any]

    @property
    def best(self) -> modelreg.RankedVersion | None:
        return self.ranked[0] if self.ranked else None


async def model_page(request: Request) -> Response:
    project = request.path_params["project"]
    name = request.path_params["model"]
    token, size = page_args(request)
    compare = compare_param(request)
    differing = flag_param(request, "differing")
    ranking_args = ranking_params(request)
    c = client(request)
    model = await c.get_model(project, name)  # NOT_FOUND: the 404 page
    versions, aliases, datasets, comparison, ranking = await asyncio.gather(
        c.list_model_versions(project, name, order_by="version desc").page(token, page_size=size),
        c.list_aliases(project, name),
        c.list_dataset_versions(project).page("", page_size=DATASET_CHOICES),
        c.compare_versions(project, name, compare) if compare else _none(),
        rank(c, project, name, *ranking_args) if ranking_args else _none(),
    )
    history, seen = await asyncio.gather(
        alias_timeline(c, project, name, aliases),
        evaluated(c, project, name, versions.items),
    )
    metrics, dataset_names, slices = seen
    dataset_names |= {d.resource_name for d in datasets.items}
    if ranking is not None:
        metrics.add(ranking.metric)
        dataset_names.add(ranking.dataset)
        slices.add(ranking.slice)
    params = []
    if comparison is not None:
        params = [p for p in comparison.params if p.differs or not differing]
    return render(
        request,
        "models/model.html",
        {
            "project": project,
            "model": model,
            "versions": versions.items,
            "next": versions.next_page_token,
            "first": with_query(request, page_token=None) if token else "",
            "next_url": with_query(request, page_token=versions.next_page_token),
            "aliases": aliases,
            "history": history,
            "compare": compare,
            "comparison": comparison,
            "params": params,
            "metric_rows": metric_rows(comparison) if comparison else [],
            "differing": differing,
            "differing_url": with_query(request, differing=None if differing else "1"),
            "ranking": ranking,
            "metrics": sorted(metrics),
            "datasets": sorted(dataset_names),
            "slices": sorted(slices),
            "form": {
                "metric": ranking_args[0] if ranking_args else "",
                "dataset": ranking_args[1] if ranking_args else "",
                "slice": ranking_args[2] if ranking_args else "",
                "goal": request.query_params.get("goal", "max"),
                "top": ranking_args[4] if ranking_args else DEFAULT_TOP,
            },
            "page_size": size if "page_size" in request.query_params else "",
            "page_token": token,
        },
    )


def dataset_label(name: str, slice: str = "") -> str:
    """``projects/p/datasets/d/versions/v`` as ``d/v`` (``d/v [slice]``)."""
    short = name.split("/datasets/")[-1].replace("/versions/", "/")
    return f"{short} [{slice}]" if slice else short


async def _none() -> None:
    return None


def compare_param(request: Request) -> list[str]:
    """The versions to compare, by number or alias, in the order given, each once."""
    out: list[str] = []
    for raw in request.query_params.getlist("compare"):
        value = raw.strip()
        if value and value not in out:
            out.append(value)
    if len(out) > MAX_COMPARED:
        raise BadParam("compare", f"at most {MAX_COMPARED} versions, not {len(out)}")
    return out


def flag_param(request: Request, name: str) -> bool:
    raw = request.query_params.get(name, "")
    if raw in ("", "0", "false"):
        return False
    if raw in ("1", "true", "on"):
        return True
    raise BadParam(name, f"must be 1 or 0, not {raw!r}")


RankingArgs = tuple[str, str, str, modelreg.Goal, int]


def ranking_params(request: Request) -> RankingArgs | None:
    """(metric, dataset, slice, goal, top) when the URL asks for a ranking, else None."""
    q = request.query_params
    metric, dataset = q.get("metric", "").strip(), q.get("dataset", "").strip()
    goal_raw = q.get("goal", "max").strip().lower() or "max"
    if goal_raw not in GOALS:
        raise BadParam("goal", f"must be max or min, not {goal_raw!r}")
    top = int_param(request, "top", DEFAULT_TOP, low=1, high=MAX_COMPARED)
    if not metric and not dataset:
        return None
    if not metric:
        raise BadParam("metric", "which metric to rank by (with dataset)")
    if not dataset:
        raise BadParam("dataset", "the dataset version to rank on (with metric)")
    if not dataset.startswith("projects/"):
        raise BadParam("dataset", f"a dataset version's resource name, not {dataset!r}")
    return metric, dataset, q.get("slice", ""), GOALS[goal_raw], top


async def rank(
    c: modelreg.AsyncClient,
    project: str,
    model: str,
    metric: str,
    dataset: str,
    slice: str,
    goal: modelreg.Goal,
    top: int,
) -> Ranking:
    page = await c.rank_versions(
        project, model, metric=metric, dataset=dataset, goal=goal, slice=slice
    ).page("", page_size=top)
    where = dataset_label(dataset, slice)
    better = "higher" if goal is modelreg.Goal.MAXIMIZE else "lower"
    chart = bar_chart(
        f"{metric} on {where} ({better} is better)",
        [r.version.display_name for r in page.items],
        {metric: [r.score for r in page.items]},
        y_label=metric,
    )
    goal_name = "max" if goal is modelreg.Goal.MAXIMIZE else "min"
    return Ranking(metric, dataset, slice, goal_name, page.items, chart)


@dataclass(frozen=True)
class TimelineEntry:
    alias: str
    event: modelreg.AliasEvent


async def alias_timeline(
    c: modelreg.AsyncClient, project: str, model: str, aliases: list[modelreg.Alias]
) -> list[TimelineEntry]:
    """Every move of every alias of the model, newest first."""
    histories = await asyncio.gather(*(c.alias_history(project, model, a.alias) for a in aliases))
    entries = [
        TimelineEntry(a.alias, e) for a, h in zip(aliases, histories, strict=True) for e in h
    ]
    entries.sort(key=lambda t: (t.event.event_time, t.event.sequence), reverse=True)
    return entries


async def evaluated(
    c: modelreg.AsyncClient,
    project: str,
    model: str,
    versions: tuple[modelreg.ModelVersion, ...],
) -> tuple[set[str], set[str], set[str]]:
    """The metrics, dataset versions and slices of the latest evaluations of these
    versions (one comparison call): the choices of the ranking form."""
    if not versions:
        return set(), set(), {""}
    numbers = [v.version for v in versions[:MAX_COMPARED]]
    comparison = await c.compare_versions(project, model, numbers)
    return (
        {m.metric for m in comparison.metrics},
        {m.dataset_version for m in comparison.metrics},
        {"", *(m.slice for m in comparison.metrics)},
    )


@dataclass(frozen=True)
class MetricRow:
    dataset_version: str
    slice: str
    metric: str
    values: tuple[float | None, ...]
    differs: bool
    first_of_group: bool


def metric_rows(comparison: modelreg.VersionComparison) -> list[MetricRow]:
    """The compared metrics by dataset version, slice and metric, side by side."""
    rows: list[MetricRow] = []
    previous: tuple[str, str] | None = None
    for m in sorted(comparison.metrics, key=lambda m: (m.dataset_version, m.slice, m.metric)):
        differs = len(set(m.values)) > 1
        group = (m.dataset_version, m.slice)
        rows.append(
            MetricRow(m.dataset_version, m.slice, m.metric, m.values, differs, group != previous)
        )
        previous = group
    return rows


routes: list[BaseRoute] = [
    Route("/projects/{project}/models/{model}", model_page, name="model"),
]
