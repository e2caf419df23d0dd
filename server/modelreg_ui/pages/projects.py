"""The projects overview and a project's page."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

import modelreg
from modelreg_ui.web import client, page_args, render

# What a project's page shows at a glance; each list links to the whole of it.
RECENT_RUNS = 10
MODELS_SHOWN = 100
DATASET_VERSIONS_READ = 1_000
VERSIONS_PER_DATASET = 8


async def index(request: Request) -> Response:
    token, size = page_args(request)
    page = await client(request).list_projects().page(token, page_size=size)
    return render(
        request, "projects/index.html", {"projects": page.items, "next": page.next_page_token}
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
    found, models, runs, datasets, dataset_versions, deployments = await asyncio.gather(
        api.get_project(name),  # NOT_FOUND: the 404 page
        api.list_models(name).page(page_size=MODELS_SHOWN),
        api.list_runs(name, order_by="start_time desc").page(page_size=RECENT_RUNS),
        api.list_datasets(name).page(page_size=DATASET_VERSIONS_READ),
        api.list_dataset_versions(name).page(page_size=DATASET_VERSIONS_READ),
        api.list_deployments(name),
    )
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
        },
    )


routes: list[BaseRoute] = [
    Route("/", index, name="index"),
    Route("/projects/{project}", project, name="project"),
]
