"""A model version's page (everything it records, its evaluations as charts and a
table, its lineage as a graph) and the lineage page of any resource name."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

import modelreg
from modelreg_ui.charts import bar_chart
from modelreg_ui.pages import lineage_graph
from modelreg_ui.pages.models import dataset_label
from modelreg_ui.web import BadParam, client, href, int_param, render

# Evaluations listed on a version's page (one API page).
MAX_EVALUATIONS = 500
# Metrics whose largest values are further apart than this get a chart each.
SCALE_RATIO = 20.0
DEFAULT_DEPTH = 2


def version_ref(raw: str) -> int | str:
    """A version number, or an alias (``production``, ``latest``)."""
    return int(raw) if raw.isascii() and raw.isdigit() else raw


def direction_param(request: Request, default: str) -> modelreg.LineageDirection:
    raw = request.query_params.get("direction", "").strip() or default
    try:
        return modelreg.LineageDirection(raw.upper())
    except ValueError:
        raise BadParam("direction", f"must be upstream, downstream or both, not {raw!r}") from None


async def version_page(request: Request) -> Response:
    project = request.path_params["project"]
    model = request.path_params["model"]
    depth = int_param(request, "depth", DEFAULT_DEPTH, low=1, high=10)
    c = client(request)
    version = await c.get_model_version(project, model, version_ref(request.path_params["version"]))
    evaluations, graph = await asyncio.gather(
        c.list_evaluations(project, model, version.version).page("", page_size=MAX_EVALUATIONS),
        lineage_graph.fetch(
            c, version.resource_name, direction=modelreg.LineageDirection.BOTH, depth=depth
        ),
    )
    return render(
        request,
        "versions/version.html",
        {
            "project": project,
            "model": model,
            "v": version,
            "config": json.dumps(version.architecture_config, indent=2, sort_keys=True)
            if version.architecture_config
            else "",
            "evaluations": evaluations.items,
            "more_evaluations": bool(evaluations.next_page_token),
            "eval_metrics": sorted({k for e in evaluations.items for k in e.metrics}),
            "charts": evaluation_charts(evaluations.items),
            "graph": graph,
            "depth": depth,
        },
    )


def evaluation_charts(evaluations: tuple[modelreg.Evaluation, ...]) -> list[dict[str, Any]]:
    """Bar charts of the latest evaluation per dataset version (and slice): one group per
    dataset version, one bar per metric; or one chart per metric when their scales are
    far apart (a loss of 2.3 would flatten an accuracy of 0.8)."""
    latest: dict[tuple[str, str], modelreg.Evaluation] = {}
    for e in sorted(evaluations, key=lambda e: e.create_time):
        latest[(e.dataset_version, e.slice)] = e
    if not latest:
        return []
    groups = sorted(latest)
    categories = [dataset_label(d, s) for d, s in groups]
    metrics = sorted({k for e in latest.values() for k in e.metrics})
    values: dict[str, list[float | None]] = {
        m: [latest[g].metrics.get(m) for g in groups] for m in metrics
    }
    scale = {m: max(abs(v) for v in vs if v is not None) for m, vs in values.items()}
    big, small = max(scale.values()), min(scale.values())
    if len(metrics) == 1 or big <= SCALE_RATIO * max(small, 1e-12):
        return [bar_chart("Evaluations by dataset version", categories, values)]
    return [bar_chart(m, categories, {m: values[m]}, y_label=m) for m in metrics]


async def lineage_page(request: Request) -> Response:
    name = request.path_params["resource_name"].strip("/")
    if not name.startswith("projects/"):
        raise HTTPException(404, f"No resource is named {name!r}: names start with projects/.")
    depth = int_param(request, "depth", DEFAULT_DEPTH + 1, low=1, high=10)
    direction = direction_param(request, "both")
    cap = int_param(
        request, "max_nodes", lineage_graph.DEFAULT_MAX_NODES, low=2, high=lineage_graph.MAX_NODES
    )
    graph = await lineage_graph.fetch(
        client(request), name, direction=direction, depth=depth, max_nodes=cap
    )
    root = graph.root
    own_page = href(root.name)
    return render(
        request,
        "versions/lineage.html",
        {
            "name": name,
            "root": root,
            "kind": root.kind.value.lower().replace("_", " "),
            "own_page": "" if own_page.startswith("/lineage/") else own_page,
            "facts": sorted(root.attributes.items()),
            "project": name.split("/")[1] if name.startswith("projects/") else "",
            "graph": graph,
            "depth": depth,
            "direction": direction.value.lower(),
            "max_nodes": cap,
        },
    )


routes: list[BaseRoute] = [
    Route("/projects/{project}/models/{model}/versions/{version}", version_page, name="version"),
    Route("/lineage/{resource_name:path}", lineage_page, name="lineage"),
]
