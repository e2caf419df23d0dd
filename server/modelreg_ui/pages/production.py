"""The production pages: a model in production (its metrics over time by version,
a breakdown by one attribute, the deployments serving it) and a deployment (the same
metrics of its traffic, its split and the history of its changes).

The time range is the query string's (``window``, or ``start``/``end``; ``bucket``),
the breakdown's attribute ``attribute``: see production_view.time_range."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

import modelreg
from modelreg_ui.pages import production_view as pv
from modelreg_ui.web import client, render, with_query


@dataclass(frozen=True)
class MetricsView:
    """The metrics part of both pages."""

    span: pv.TimeRange
    total: modelreg.ProductionMetricsReport  # one row, or none without records
    by_version: modelreg.ProductionMetricsReport
    scores: pv.Scores
    charts: list[pv.Chart]
    versions: list[int]  # the versions charted, in the order of their series
    attributes: list[str]  # names seen in the latest records
    attribute: str
    breakdown: list[pv.BreakdownRow]
    hidden_values: int  # values of the attribute past the table's
    breakdown_chart: pv.Chart | None


async def metrics_view(
    api: modelreg.AsyncClient,
    project: str,
    model: str,
    deployment: str | None,
    span: pv.TimeRange,
    attribute: str | None,
) -> MetricsView:
    """The metrics of a model (of one deployment's traffic if given) over the span;
    the breakdown by ``attribute`` (by the first name seen if None; none if "")."""
    window: dict[str, Any] = {"deployment": deployment, "since": span.start, "until": span.end}
    over_time, by_version, total, sample = await asyncio.gather(
        api.production_metrics(project, model, by="version", bucket=span.bucket, **window),
        api.production_metrics(project, model, by="version", **window),
        api.production_metrics(project, model, **window),
        api.list_inference_records(project, model, **window).page(page_size=pv.SAMPLE_RECORDS),
    )
    attributes = pv.attributes_seen(sample.items)
    if attribute is None:
        attribute = attributes[0] if attributes else ""
    rows: list[pv.BreakdownRow] = []
    hidden = 0
    if attribute:
        totals, per_version = await asyncio.gather(
            api.production_metrics(project, model, by=attribute, **window),
            api.production_metrics(project, model, by=["version", attribute], **window),
        )
        rows, hidden = pv.breakdown(totals, per_version)
    return MetricsView(
        span=span,
        total=total,
        by_version=by_version,
        scores=pv.scores_of(by_version.rows),
        charts=pv.series_charts(over_time, span.bucket),
        versions=sorted({r.version for r in over_time.rows}),
        attributes=attributes,
        attribute=attribute,
        breakdown=rows,
        hidden_values=hidden,
        breakdown_chart=pv.breakdown_chart(rows) if rows else None,
    )


def _params(request: Request) -> tuple[pv.TimeRange, str | None]:
    # Read before any call: a bad parameter is a 400 whatever the API would say.
    return pv.time_range(request, datetime.now(timezone.utc)), pv.attribute_param(request)


def _controls(request: Request) -> dict[str, Any]:
    """Links of the time controls: this page in each window (start/end dropped)."""
    return {
        "window_links": {
            name: with_query(request, window=name, start=None, end=None, bucket=None)
            for name in pv.WINDOWS
        },
        "buckets": list(pv.BUCKETS),
        # The other production page, in the same window: its links keep the query.
        "keep": f"?{request.url.query}" if request.url.query else "",
        "version_label": pv.version_label,
    }


async def model_production(request: Request) -> Response:
    project = request.path_params["project"]
    name = request.path_params["model"]
    span, attribute = _params(request)
    api = client(request)
    model = await api.get_model(project, name)  # NOT_FOUND: the 404 page
    view, deployments = await asyncio.gather(
        metrics_view(api, project, name, None, span, attribute),
        api.list_deployments(project, model=name),
    )
    return render(
        request,
        "production/model.html",
        {
            "project": project,
            "model": model,
            "m": view,
            "deployments": [(d, pv.split(d.traffic, view.versions)) for d in deployments],
            **_controls(request),
        },
    )


async def deployment_page(request: Request) -> Response:
    project = request.path_params["project"]
    name = request.path_params["deployment"]
    span, attribute = _params(request)
    api = client(request)
    deployment = await api.get_deployment(project, name)  # NOT_FOUND: the 404 page
    view, events = await asyncio.gather(
        metrics_view(api, project, deployment.model, name, span, attribute),
        api.deployment_history(project, name),
    )
    return render(
        request,
        "production/deployment.html",
        {
            "project": project,
            "deployment": deployment,
            "m": view,
            "split": pv.split(deployment.traffic, view.versions),
            "history": pv.history(events),
            **_controls(request),
        },
    )


routes: list[BaseRoute] = [
    Route(
        "/projects/{project}/models/{model}/production",
        model_production,
        name="model_production",
    ),
    Route("/projects/{project}/deployments/{deployment}", deployment_page, name="deployment"),
]
