"""The experiment table and the run page over HTTP, against a real server with the
project of tests/ui_runs_support.py: the rows a filter selects, sorting by score and by
a param both ways, the score by metric alone and by metric on a dataset version, paging,
errors (a bad filter is the API's 400, unknown project or run a 404), the overlay chart
of ticked runs, and a run's params, inputs, charts and produced versions."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

import modelreg
from modelreg_ui.charts import points_of
from modelreg_ui.pages import run_table
from tests import ui_runs_support as data

Built = data.Built


@pytest.fixture(scope="module")
def built(target: str) -> Iterator[Built]:
    with modelreg.Client(target, actor="tester") as c:
        yield data.build(c)


def table(http: Any, built: Built, **params: Any) -> Any:
    return http.get(f"/projects/{built.project}/runs", params=params)


def rows(text: str) -> list[str]:
    """The run ids of the table's rows, in order."""
    return re.findall(r'<tr data-run="([^"]+)"', text)


def scores(text: str) -> dict[str, float | None]:
    found = re.findall(r'<tr data-run="([^"]+)" data-score="([^"]*)"', text)
    return {r: None if s == "None" else float(s) for r, s in found}


def charts(text: str) -> list[dict[str, Any]]:
    return [json.loads(html.unescape(s)) for s in re.findall(r"data-chart='([^']*)'", text)]


def by_index(run_id: str) -> int:
    return int(run_id.removeprefix("run_"))


def test_table_has_a_row_per_run_with_its_links_and_columns(http: Any, built: Built) -> None:
    response = table(http, built)
    assert response.status_code == 200
    text = response.text
    # Newest first by default.
    assert rows(text) == [data.run_id(i) for i in reversed(range(data.RUNS))]
    for i in range(data.RUNS):
        assert f'href="/projects/{built.project}/runs/{data.run_id(i)}"' in text
    for i, version in built.versions.items():
        assert f'href="/{version}"' in text
        assert f"s3://models/clf/run_{i:02d}.pt" in text
    # One column per param key, sortable.
    for key in ("batch", "lr", "optimizer"):
        assert f'data-sort="param.{key}"' in text
    # The metric select offers the keys seen; the dataset select the project's versions.
    assert '<option value="accuracy"' in text and '<option value="loss"' in text
    assert f'<option value="{built.q1}"' in text and f'<option value="{built.q2}"' in text
    assert "Traceback" not in text


def test_a_filter_selects_the_right_rows(http: Any, built: Built) -> None:
    response = table(http, built, filter="params.lr < 0.05 AND metrics.loss <= 0.3")
    assert response.status_code == 200
    expected = {
        data.run_id(i) for i in range(data.RUNS) if data.lr(i) < 0.05 and built.final_loss(i) <= 0.3
    }
    assert expected and len(expected) < data.RUNS
    assert set(rows(response.text)) == expected
    assert f"{len(expected)} runs matching" in response.text


def test_a_filter_on_a_string_param(http: Any, built: Built) -> None:
    response = table(http, built, filter='params.optimizer = "sgd"')
    assert response.status_code == 200
    assert set(rows(response.text)) == {data.run_id(i) for i in range(1, data.RUNS, 2)}


def test_sorting_by_a_param_both_ways(http: Any, built: Built) -> None:
    up = rows(table(http, built, sort="param.lr").text)
    down = rows(table(http, built, sort="-param.lr").text)
    also_down = rows(table(http, built, sort="param.lr", dir="desc").text)
    lrs_up = [data.lr(by_index(r)) for r in up]
    lrs_down = [data.lr(by_index(r)) for r in down]
    assert len(up) == data.RUNS
    assert lrs_up == sorted(lrs_up) and lrs_up[0] < lrs_up[-1]
    assert lrs_down == sorted(lrs_down, reverse=True)
    assert down == also_down
    # Ties keep the API's order (newest first), in both directions.
    assert [r for r in up if data.lr(by_index(r)) == 0.01] == [
        "run_20",
        "run_15",
        "run_10",
        "run_05",
        "run_00",
    ]
    assert [r for r in down if data.lr(by_index(r)) == 0.01] == [
        "run_20",
        "run_15",
        "run_10",
        "run_05",
        "run_00",
    ]


def test_sorting_by_a_string_param_and_by_run_id(http: Any, built: Built) -> None:
    by_optimizer = rows(table(http, built, sort="param.optimizer").text)
    assert [data.optimizer(by_index(r)) for r in by_optimizer] == ["adam"] * 13 + ["sgd"] * 12
    assert rows(table(http, built, sort="run_id").text) == [
        data.run_id(i) for i in range(data.RUNS)
    ]
    assert rows(table(http, built, sort="-run_id").text) == [
        data.run_id(i) for i in reversed(range(data.RUNS))
    ]


def test_score_by_a_metric_alone_is_the_runs_latest_value(http: Any, built: Built) -> None:
    response = table(http, built, metric="loss", sort="score")
    assert response.status_code == 200
    got = scores(response.text)
    assert got == {data.run_id(i): built.final_loss(i) for i in range(data.RUNS)}
    ordered = [got[r] for r in rows(response.text)]
    assert ordered == sorted(v for v in ordered if v is not None)
    highest_first = rows(table(http, built, metric="loss", sort="-score").text)
    assert [got[r] for r in highest_first] == sorted(ordered, reverse=True)


def test_score_by_metric_on_a_dataset_version(http: Any, built: Built) -> None:
    response = table(http, built, metric="accuracy", dataset=built.q2, sort="-score")
    assert response.status_code == 200
    got = scores(response.text)
    expected = {
        data.run_id(i): (data.q2_accuracy(i) if i < data.PRODUCING else None)
        for i in range(data.RUNS)
    }
    assert got == expected
    order = rows(response.text)
    scored = [r for r in order if expected[r] is not None]
    # Best first; runs with no evaluation on q2 (odd, or no version) come last.
    assert order[: len(scored)] == scored
    assert [expected[r] for r in scored] == sorted(
        (v for v in expected.values() if v is not None), reverse=True
    )
    assert order[0] == "run_00"
    # On q1 every producing run has a score; the lowest first with sort=score.
    q1 = table(http, built, metric="accuracy", dataset=built.q1, sort="score")
    q1_scores = scores(q1.text)
    assert q1_scores == {
        data.run_id(i): (data.q1_accuracy(i) if i < data.PRODUCING else None)
        for i in range(data.RUNS)
    }
    first = rows(q1.text)[0]
    assert q1_scores[first] == min(v for v in q1_scores.values() if v is not None)


def test_score_with_goal_min_prefers_the_lowest(http: Any, built: Built) -> None:
    # The header link of the score column sorts the best first: lowest with goal=min.
    response = table(http, built, metric="loss", goal="min")
    link = re.search(r'<a href="([^"]+)" class="[^"]*" data-sort="score"', response.text)
    assert link
    target = html.unescape(link.group(1))
    assert "sort=score" in target and "goal=min" in target
    best = rows(http.get(target).text)[0]
    assert best == min(
        (data.run_id(i) for i in range(data.RUNS)), key=lambda r: built.final_loss(by_index(r))
    )


def test_pages_are_disjoint_and_links_keep_the_query(http: Any, built: Built) -> None:
    query = {"filter": "params.batch >= 16", "sort": "param.lr", "page_size": 10}
    first = table(http, built, **query)
    assert first.status_code == 200
    link = re.search(r'rel="next" href="([^"]+)"', first.text)
    assert link
    next_url = html.unescape(link.group(1))
    assert "filter=params.batch+%3E%3D+16" in next_url
    assert "sort=param.lr" in next_url and "page_size=10" in next_url and "page=2" in next_url
    second = http.get(next_url)
    third = table(http, built, **query, page=3)
    pages = [rows(first.text), rows(second.text), rows(third.text)]
    assert [len(p) for p in pages] == [10, 10, 5]
    seen = [r for p in pages for r in p]
    assert len(set(seen)) == len(seen) == data.RUNS
    # Together they are the whole sorted table.
    assert seen == rows(table(http, built, filter="params.batch >= 16", sort="param.lr").text)
    assert 'rel="next"' not in third.text and 'rel="prev"' in third.text
    beyond = table(http, built, **query, page=4)
    assert beyond.status_code == 200 and rows(beyond.text) == []


def test_a_bad_filter_is_the_apis_400_naming_the_field(http: Any, built: Built) -> None:
    response = table(http, built, filter="params.lr <<< 0.05")
    assert response.status_code == 400
    assert "INVALID_ARGUMENT" in response.text
    assert "<dt>field</dt><dd><code>filter</code></dd>" in response.text
    assert "expected a value" in response.text
    assert "Traceback" not in response.text
    unknown = table(http, built, filter="nonsense = 1")
    assert unknown.status_code == 400 and "filter" in unknown.text


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"sort": "bogus"}, "sort"),
        ({"sort": "score"}, "sort"),
        ({"dataset": "projects/x/datasets/d/versions/v"}, "metric"),
        ({"goal": "sideways", "metric": "loss"}, "goal"),
        ({"page": "two"}, "page"),
        ({"page_size": 100000}, "page_size"),
    ],
)
def test_bad_parameters_are_400_naming_them(
    http: Any, built: Built, params: dict[str, Any], name: str
) -> None:
    response = table(http, built, **params)
    assert response.status_code == 400
    assert f"<dt>field</dt><dd><code>{name}</code></dd>" in response.text
    assert "Traceback" not in response.text


def test_unknown_project_and_run_are_404(http: Any, built: Built) -> None:
    assert http.get("/projects/no_such_project_x/runs").status_code == 404
    missing = http.get(f"/projects/{built.project}/runs/no_such_run")
    assert missing.status_code == 404
    assert "no_such_run" in missing.text and "Traceback" not in missing.text


def test_overlay_holds_both_selected_runs_points(http: Any, built: Built) -> None:
    response = table(http, built, run=["run_01", "run_02"], curve="loss")
    assert response.status_code == 200
    [spec] = charts(response.text)
    assert [s["label"] for s in spec["series"]] == ["run_01", "run_02"]
    assert points_of(spec) == data.steps(1) + data.steps(2)
    xs = spec["x"]
    for s, i in zip(spec["series"], (1, 2), strict=True):
        points = {x: v for x, v in zip(xs, s["values"], strict=True) if v is not None}
        assert points == {float(st): data.loss(i, st) for st in range(data.steps(i))}
    clear = re.search(r'id="clear-overlay" href="([^"]+)"', response.text)
    assert clear and "run=" not in clear.group(1) and "curve=loss" in html.unescape(clear.group(1))
    # The ticked runs stay ticked.
    assert response.text.count(" checked aria-label") == 2
    # With no curve given, the score metric is drawn.
    by_metric = table(http, built, run=["run_03", "run_04"], metric="accuracy")
    [spec] = charts(by_metric.text)
    assert spec["y_label"] == "accuracy"
    assert points_of(spec) == data.steps(3) + data.steps(4)


def test_overlay_of_an_unknown_run_is_a_400(http: Any, built: Built) -> None:
    response = table(http, built, run=["run_01", "nope"], curve="loss")
    assert response.status_code == 400
    assert "<dt>field</dt><dd><code>run</code></dd>" in response.text and "nope" in response.text


def test_run_page_shows_params_inputs_charts_and_versions(http: Any, built: Built) -> None:
    i = 6
    response = http.get(f"/projects/{built.project}/runs/{data.run_id(i)}")
    assert response.status_code == 200
    text = response.text
    params = dict(re.findall(r'<tr><td>([a-z]+)</td><td class="num">([^<]*)</td></tr>', text))
    assert params == {"batch": str(data.batch(i)), "lr": str(data.lr(i)), "optimizer": "adam"}
    assert f'href="/lineage/{built.train}"' in text and f'href="/lineage/{built.q1}"' in text
    assert "test" in text and f"c0ffee{i:02d}" in text and "team=vision" in text
    specs = charts(text)
    assert sorted(s["title"] for s in specs) == ["accuracy", "loss"]
    for spec in specs:
        assert points_of(spec) == data.steps(i)
    loss = next(s for s in specs if s["title"] == "loss")
    assert loss["series"][0]["values"] == [data.loss(i, st) for st in range(data.steps(i))]
    assert f'href="/{built.versions[i]}"' in text and "clf_v7" in text
    # A run that produced nothing says so.
    none = http.get(f"/projects/{built.project}/runs/{data.run_id(22)}")
    assert none.status_code == 200 and "No versions registered from this run." in none.text


def test_sorting_by_a_metrics_latest_value(http: Any, built: Built) -> None:
    order = rows(table(http, built, sort="-metric.accuracy").text)
    values = [built.final_accuracy(by_index(r)) for r in order]
    assert len(order) == data.RUNS and values == sorted(values, reverse=True)


def test_ticked_runs_off_the_page_are_kept_in_the_form(http: Any, built: Built) -> None:
    # run_00 is on the last page of the newest-first table: still ticked for the next submit.
    response = table(http, built, run=["run_00", "run_24"], curve="loss", page_size=5)
    assert rows(response.text)[0] == "run_24"
    assert '<input type="hidden" name="run" value="run_00" form="runs-form">' in response.text
    assert '<input type="hidden" name="run" value="run_24"' not in response.text


def test_past_the_cap_the_table_says_so(
    http: Any, built: Built, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The dashboard runs in this process: a cap of 20 runs read 10 a call.
    monkeypatch.setattr(run_table, "MAX_RUNS", 20)
    monkeypatch.setattr(run_table, "FETCH_PAGE", 10)
    response = table(http, built, sort="run_id", page_size=50)
    assert response.status_code == 200
    assert "More than 20 runs match" in response.text
    # Sorted among the first 20 the API gives in run_id order.
    assert rows(response.text) == [data.run_id(i) for i in range(20)]
    uncapped = table(http, built, filter="params.lr >= 0.1", page_size=50)
    assert "More than" not in uncapped.text
