"""The projects overview and a project's page."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

import modelreg
from modelreg_ui.web import BadParam, client, page_args, render, with_query

# What a project's page shows at a glance; each list links to the whole of it.
RECENT_RUNS = 10
MODELS_SHOWN = 100
DATASET_VERSIONS_READ = 1_000
VERSIONS_PER_DATASET = 8
PIPELINES_SHOWN = 100
# The projects page: projects summed up at once, and the models or datasets counted
# exactly up to this many (then "100+").
GLANCE_CALLS = 8
GLANCE_PAGE = 100


@dataclass(frozen=True)
class Glance:
    """A project at a glance on the projects page (None: the API did not say)."""

    models: int | None = None
    more_models: bool = False
    versions: int | None = None
    datasets: int | None = None
    more_datasets: bool = False
    deployments: int | None = None
    latest_run: datetime | None = None


async def _glance(api: modelreg.AsyncClient, gate: asyncio.Semaphore, project: str) -> Glance:
    """Counts of a project's models, datasets and deployments and its latest run's start:
    four small calls, at most GLANCE_CALLS projects at once."""
    async with gate:
        try:
            models, datasets, deployments, runs = await asyncio.gather(
                api.list_models(project).page(page_size=GLANCE_PAGE),
                api.list_datasets(project).page(page_size=GLANCE_PAGE),
                api.list_deployments(project),
                api.list_runs(project, order_by="start_time desc").page(page_size=1),
            )
        except modelreg.ModelregError:
            # Deleted since it was listed, or not readable with this key: no figures.
            return Glance()
    return Glance(
        models=len(models),
        more_models=bool(models.next_page_token),
        versions=sum(m.version_count for m in models.items),
        datasets=len(datasets),
        more_datasets=bool(datasets.next_page_token),
        deployments=len(deployments),
        latest_run=runs.items[0].start_time if runs.items else None,
    )


# The projects page's orders: query value -> the API's order_by.
ORDERS = {"name": "name", "newest": "create_time desc", "updated": "update_time desc"}


async def index(request: Request) -> Response:
    """Every project, a page at a time, filtered with the API's projects filter
    (``name = "x"``, ``labels.team = "nlp"``, ``create_time > "2026-01-01T00:00:00Z"``)."""
    token, size = page_args(request)
    order = request.query_params.get("order", "") or "name"
    if order not in ORDERS:
        raise BadParam("order", f"must be one of {', '.join(ORDERS)}, not {order!r}")
    filter_ = request.query_params.get("filter", "").strip()
    api = client(request)
    page = await api.list_projects(filter=filter_, order_by=ORDERS[order]).page(
        token, page_size=size
    )
    gate = asyncio.Semaphore(GLANCE_CALLS)
    glances = await asyncio.gather(*(_glance(api, gate, p.name) for p in page.items))
    return render(
        request,
        "projects/index.html",
        {
            "projects": list(zip(page.items, glances, strict=True)),
            "filter": filter_,
            "order": order,
            "orders": list(ORDERS),
            "next": with_query(request, page_token=page.next_page_token)
            if page.next_page_token
            else "",
            "first": with_query(request, page_token=None) if token else "",
        },
    )


def _by_dataset(
    versions: Iterable[modelreg.DatasetVersion],
) -> dict[str, list[modelreg.DatasetVersion]]:
    """Dataset -> its versions, newest first, at most VERSIONS_PER_DATASET of them."""
    out: dict[str, list[modelreg.DatasetVersion]] = {}
    for v in versions:
        out.setdefault(v.dataset, []).append(v)
    return {d: vs[::-1][:VERSIONS_PER_DATASET] for d, vs in out.items()}


async def project(request: Request) -> Response:
    name = request.path_params["project"]
    api = client(request)
    registry = asyncio.gather(
        api.get_project(name),  # NOT_FOUND: the 404 page
        api.list_models(name).page(page_size=MODELS_SHOWN),
        api.list_runs(name, order_by="start_time desc").page(page_size=RECENT_RUNS),
        api.list_datasets(name).page(page_size=DATASET_VERSIONS_READ),
        api.list_dataset_versions(name).page(page_size=DATASET_VERSIONS_READ),
        api.list_deployments(name),
    )
    pipelining = asyncio.gather(
        api.list_pipelines(name).page(page_size=PIPELINES_SHOWN),
        api.list_pipeline_runs(name, order_by="start_time desc").page(page_size=RECENT_RUNS),
    )
    (
        (found, models, runs, datasets, dataset_versions, deployments),
        (pipelines, pipeline_runs),
    ) = await asyncio.gather(registry, pipelining)
    return render(
        request,
        "projects/project.html",
        {
            "project": found,
            "models": models.items,
            "more_models": bool(models.next_page_token),
            "runs": runs.items,
            "more_runs": bool(runs.next_page_token),
            "datasets": datasets.items,
            "dataset_versions": _by_dataset(dataset_versions.items),
            "deployments": deployments,
            "pipelines": pipelines.items,
            "more_pipelines": bool(pipelines.next_page_token),
            "pipeline_runs": pipeline_runs.items,
        },
    )


routes: list[BaseRoute] = [
    Route("/", index, name="index"),
    Route("/projects/{project}", project, name="project"),
]
