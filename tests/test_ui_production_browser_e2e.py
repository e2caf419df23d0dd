"""The production pages in headless Chromium: both load with no console error, every
chart draws its points on a canvas, the breakdown's attribute is chosen in the form;
screenshots ``production`` (for the README) and ``deployment``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import modelreg
from tests.ui_production_support import ProdData, build


@pytest.fixture(scope="module")
def data(target: str) -> Iterator[ProdData]:
    with modelreg.Client(target, actor="tester") as client:
        yield build(client)


def _charts_drawn(page: Any) -> list[dict[str, Any]]:
    """Every chart of the page once drawn: its id, points and canvases."""
    page.wait_for_function(
        "[...document.querySelectorAll('[data-chart]')].every(e => e.dataset.drawn === 'true')"
    )
    charts: list[dict[str, Any]] = page.evaluate(
        """() => [...document.querySelectorAll('[data-chart]')].map(e => ({
            id: e.id, points: Number(e.dataset.points),
            expected: JSON.parse(e.dataset.chart).series.reduce(
                (n, s) => n + s.values.filter(v => v !== null).length, 0),
            canvases: e.querySelectorAll('canvas').length}))"""
    )
    return charts


def test_model_production_page_draws_every_chart(data: ProdData, page: Any) -> None:
    url = f"/projects/{data.project}/models/{data.model}/production?attribute=country"
    page.page.goto(url)
    charts = _charts_drawn(page.page)
    ids = {c["id"] for c in charts}
    assert ids == {
        "chart-requests",
        "chart-accuracy",
        "chart-coverage",
        "chart-latency_p50",
        "chart-latency_p95",
        "chart-breakdown",
    }
    for chart in charts:
        assert chart["points"] > 0 and chart["points"] == chart["expected"], chart
        assert chart["canvases"] >= 1, chart
    # One series per version in the legend of a chart over time.
    legend = page.page.locator("#chart-requests .u-legend .u-series .u-label").all_inner_texts()
    assert legend[1:] == ["v1", "v2", "v3"]
    page.screenshot("production")


def test_choosing_the_breakdown_attribute(data: ProdData, page: Any) -> None:
    page.page.goto(f"/projects/{data.project}/models/{data.model}/production?window=7d")
    page.page.select_option("#attribute", "tier")
    page.page.click("#controls button[type=submit]")
    page.page.wait_for_url("**attribute=tier**")
    assert "window=7d" in page.page.url
    rows = page.page.locator("#breakdown tr.value").evaluate_all(
        "rows => rows.map(r => r.dataset.value)"
    )
    assert sorted(rows) == ["free", "paid"]
    _charts_drawn(page.page)


def test_deployment_page_draws_split_history_and_charts(data: ProdData, page: Any) -> None:
    page.page.goto(f"/projects/{data.project}/deployments/{data.deployment}")
    charts = _charts_drawn(page.page)
    assert {c["id"] for c in charts} >= {"chart-requests", "chart-accuracy", "chart-coverage"}
    for chart in charts:
        assert chart["points"] > 0 and chart["points"] == chart["expected"], chart
        assert chart["canvases"] >= 1, chart
    assert page.page.locator("#history li").count() == 4
    widths = page.page.locator("#split + .split span, .split span").evaluate_all(
        "spans => spans.map(s => s.getBoundingClientRect().width)"
    )
    assert len(widths) == 2 and widths[0] > widths[1] > 0  # 70% and 30%
    page.screenshot("deployment")
