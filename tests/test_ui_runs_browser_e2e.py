"""The runs pages in headless Chromium: the experiment table, a run and the project page
load with no console error and draw their charts' points; filtering through the form
narrows the rows; ticking two runs and submitting overlays both curves in one chart.
Saves the screenshots ``runs-table`` (with an overlay) and ``run``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

import modelreg
from tests import ui_runs_support as data


@pytest.fixture(scope="module")
def built(target: str) -> Iterator[data.Built]:
    with modelreg.Client(target, actor="tester") as c:
        yield data.build(c)


def row_ids(pw: Any) -> list[str]:
    ids: list[str] = pw.eval_on_selector_all(
        "#runs tbody tr[data-run]", "rows => rows.map(r => r.dataset.run)"
    )
    return ids


def test_filtering_through_the_form_narrows_the_rows(built: data.Built, page: Any) -> None:
    pw = page.page
    pw.goto(f"/projects/{built.project}/runs")
    assert len(row_ids(pw)) == data.RUNS
    pw.fill("input[name=filter]", 'params.optimizer = "sgd" AND params.lr < 0.05')
    with pw.expect_navigation():
        pw.click("#apply")
    expected = {
        data.run_id(i) for i in range(data.RUNS) if data.optimizer(i) == "sgd" and data.lr(i) < 0.05
    }
    assert set(row_ids(pw)) == expected
    query = parse_qs(urlsplit(pw.url).query)
    assert query["filter"] == ['params.optimizer = "sgd" AND params.lr < 0.05']
    # Fields left empty are not sent: the URL holds only what was chosen.
    assert "metric=" not in pw.url and "dataset=" not in pw.url


def test_ticking_two_runs_overlays_both_curves(built: data.Built, page: Any) -> None:
    pw = page.page
    pw.goto(f"/projects/{built.project}/runs?metric=accuracy&dataset={built.q1}&sort=-score")
    assert pw.locator("#overlay-chart").count() == 0
    ticked = row_ids(pw)[:2]
    for run in ticked:
        pw.check(f'#runs tr[data-run="{run}"] input[type=checkbox]')
    pw.select_option("select[name=curve]", "loss")
    with pw.expect_navigation():
        pw.click("#overlay-button")
    query = parse_qs(urlsplit(pw.url).query)
    assert query["run"] == ticked and query["curve"] == ["loss"]
    assert query["metric"] == ["accuracy"] and query["dataset"] == [built.q1]
    chart = pw.locator("#overlay-chart")
    chart.locator("canvas").wait_for()
    assert chart.get_attribute("data-drawn") == "true"
    expected = sum(data.steps(int(r.removeprefix("run_"))) for r in ticked)
    assert chart.get_attribute("data-points") == str(expected)
    # One uPlot chart, x plus one series per ticked run, each drawn with its points.
    series = pw.evaluate(
        "() => window.modelregCharts.map(c => c.series.slice(1).map(s => s.label))"
    )
    assert series == [ticked]
    # The ticked boxes stay ticked in the shared URL's page.
    assert pw.locator("#runs input[type=checkbox]:checked").count() == 2
    page.screenshot("runs-table")


def test_run_page_draws_a_chart_per_metric(built: data.Built, page: Any) -> None:
    pw = page.page
    i = 7
    pw.goto(f"/projects/{built.project}/runs/{data.run_id(i)}")
    charts = pw.locator("#metric-charts .chart")
    assert charts.count() == 2
    for n in range(2):
        charts.nth(n).locator("canvas").wait_for()
        assert charts.nth(n).get_attribute("data-drawn") == "true"
        assert charts.nth(n).get_attribute("data-points") == str(data.steps(i))
    assert pw.locator("#outputs a").first.get_attribute("href") == f"/{built.versions[i]}"
    page.screenshot("run")


def test_project_page_and_its_links_load_clean(built: data.Built, page: Any) -> None:
    pw = page.page
    pw.goto(f"/projects/{built.project}")
    assert pw.locator("#models a").count() == 1
    page.screenshot("project")
    with pw.expect_navigation():
        pw.click(f'#recent-runs a[href="/projects/{built.project}/runs/{data.run_id(24)}"]')
    assert pw.locator("#metric-charts .chart").count() == 2
    pw.goto(f"/projects/{built.project}")
    with pw.expect_navigation():
        pw.click("h2 a.more")
    assert len(row_ids(pw)) == data.RUNS
