"""The models area in headless Chromium (data: tests/ui_models_support.py): the model,
version and lineage pages load with no console error; their charts draw every point;
ticking two versions and pressing "Compare selected" highlights exactly the params that
differ; the lineage graph's nodes are links. Screenshots: ``model-compare``, ``version``,
``lineage``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

import modelreg
from tests.ui_models_support import Scenario, build


@pytest.fixture(scope="module")
def s(target: str) -> Iterator[Scenario]:
    with modelreg.Client(target, actor="tester") as c:
        yield build(c)


def drawn_points(page: Any, selector: str) -> list[tuple[int, int]]:
    """(points in the spec, points drawn) of each chart matching ``selector``."""
    page.wait_for_function(
        "(sel) => [...document.querySelectorAll(sel)].every(e => e.dataset.drawn === 'true')",
        arg=selector,
    )
    return [
        (
            sum(v is not None for series in json.loads(spec)["series"] for v in series["values"]),
            int(points),
        )
        for spec, points in page.eval_on_selector_all(
            selector, "els => els.map(e => [e.dataset.chart, e.dataset.points])"
        )
    ]


def test_compare_two_ticked_versions_highlights_the_differing_params(
    s: Scenario, page: Any
) -> None:
    p = page.page
    p.goto(s.model_url + f"?metric=accuracy&dataset={s.holdout.resource_name}")
    assert drawn_points(p, "#ranking-chart") == [(6, 6)]
    assert p.locator("#ranking-chart canvas").count() == 1
    p.check('#versions input[name=compare][value="3"]')
    p.check('#versions input[name=compare][value="5"]')
    with p.expect_navigation():
        p.click("#compare-submit")
    assert "compare=5" in p.url and "compare=3" in p.url and "metric=accuracy" in p.url
    highlighted = p.eval_on_selector_all(
        "#compare-params tr.differs", "rows => rows.map(r => r.dataset.param)"
    )
    assert sorted(highlighted) == ["layers", "lr"]
    # Highlighted in the browser: the differing rows' cells have the diff background,
    # the others none.
    backgrounds = p.eval_on_selector_all(
        "#compare-params tbody tr",
        """rows => Object.fromEntries(rows.map(r => [r.dataset.param,
            getComputedStyle(r.querySelector('td')).backgroundColor]))""",
    )
    assert backgrounds["lr"] == backgrounds["layers"] == "rgb(255, 241, 194)"
    assert backgrounds["optimizer"] == backgrounds["batch_size"] == "rgba(0, 0, 0, 0)"
    # The metrics side by side, and the ranking still there.
    assert p.locator("#compare-metrics tr[data-metric]").count() == 4
    assert p.locator("#ranking tr.best").get_attribute("data-version") == "5"
    page.screenshot("model-compare")
    # Only the differing params, by the toggle.
    with p.expect_navigation():
        p.click("#differing-toggle")
    assert p.locator("#compare-params tr[data-param]").count() == 2


def test_version_page_draws_its_evaluations_and_lineage(s: Scenario, page: Any) -> None:
    p = page.page
    p.goto(s.version_url(3))
    assert drawn_points(p, ".evaluation-chart") == [(4, 4)]
    graph = p.locator("svg.lineage")
    assert graph.is_visible()
    assert p.locator("svg.lineage a.node").count() >= 6
    assert p.locator("svg.lineage path.edge").count() >= 5
    box = p.locator("svg.lineage a.node.focus rect").bounding_box()
    assert box is not None and box["width"] > 100
    page.screenshot("version")
    # A node is a link: the fine-tuned version's page.
    with p.expect_navigation():
        p.locator(f'svg.lineage a.node[data-name="{s.versions[6].resource_name}"]').click()
    assert p.url.endswith(s.version_url(6))
    assert p.locator("h1").inner_text().startswith("ranker_v6")


def test_lineage_page_loads_clean(s: Scenario, page: Any) -> None:
    p = page.page
    p.goto(f"/lineage/{s.train.resource_name}")
    assert p.locator("#kind").inner_text() == "batch"
    assert p.locator("svg.lineage a.node").count() > 12
    page.screenshot("lineage")
    p.select_option("select[name=direction]", "downstream")
    p.fill("input[name=depth]", "1")
    with p.expect_navigation():
        p.click("#lineage-form button")
    assert "direction=downstream" in p.url and "depth=1" in p.url
    assert p.locator("svg.lineage a.node").count() == 13  # itself, 6 runs, 6 versions
