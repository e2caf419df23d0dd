"""The dashboard's frame in headless Chromium: the projects page and its scripts load
with no console error; the shipped chart code draws a chart's points."""

from __future__ import annotations

from typing import Any

import modelreg
from tests.conftest import unique


def test_projects_page_loads_clean(page: Any, sync_client: modelreg.Client) -> None:
    name = unique("uibrowse")
    sync_client.create_project(name)
    page.page.goto(f"/?filter=name%20%3D%20%22{name}%22")
    link = page.page.locator(f'a[href="/projects/{name}"]')
    assert link.count() == 1
    # The chart library and the dashboard's chart code are loaded (no CDN).
    assert page.page.evaluate("typeof uPlot") == "function"
    assert page.page.evaluate("typeof window.modelregDrawCharts") == "function"
    page.screenshot("projects")


def test_chart_code_draws_every_point(page: Any) -> None:
    page.page.goto("/?page_size=1")
    drawn = page.page.evaluate(
        """() => {
        const el = document.createElement("div");
        el.className = "chart";
        el.dataset.chart = JSON.stringify({title: "t", kind: "line", time: false,
            x: [1, 2, 3], series: [{label: "a", values: [1, null, 3]},
                                   {label: "b", values: [2, 2, 2]}]});
        document.querySelector("main").appendChild(el);
        window.modelregDrawCharts();
        return [el.dataset.points, el.querySelectorAll("canvas").length];
    }"""
    )
    assert drawn == ["5", 1]
