"""The model page over HTTP against a real server (data: tests/ui_models_support.py):
the versions table and its server-side pages, aliases and their history, versions
compared side by side with the differing params highlighted, the best versions by a
metric on a dataset (as the SDK ranks them), and its errors (400 naming the param, the
API's 404, never a traceback)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

import modelreg
from modelreg_ui.charts import points_of
from tests.ui_models_support import ALIAS_MOVES, MODEL, PARAMS, Element, Scenario, build, get, parse


@pytest.fixture(scope="module")
def s(target: str) -> Iterator[Scenario]:
    with modelreg.Client(target, actor="tester") as c:
        yield build(c)


def version_rows(doc: Element) -> list[Element]:
    return [tr for tr in doc.by_id("versions").find_all("tr") if "data-version" in tr.attrs]


def numbers(doc: Element) -> list[int]:
    return [int(tr.attrs["data-version"]) for tr in version_rows(doc)]


def test_model_page_lists_the_versions_newest_first(http: Any, s: Scenario) -> None:
    doc = get(http, s.model_url)
    assert "Model ranker" in doc.find("h1").text
    facts = doc.by_id("model-facts").text
    assert f"projects/{s.project}/models/{MODEL}" in facts and "versions 6" in facts
    assert numbers(doc) == [6, 5, 4, 3, 2, 1]
    for tr in version_rows(doc):
        n = int(tr.attrs["data-version"])
        v = s.versions[n]
        links = tr.links()
        assert s.version_url(n) in links
        assert f"/projects/{s.project}/runs/r{n}" in links  # the source run
        assert {e.text for e in tr.find_all(cls="alias")} == set(v.aliases)
        assert v.artifact.uri in tr.text and "READY" in tr.text
        (box,) = tr.find_all("input", type="checkbox")
        assert box.attrs["name"] == "compare" and box.attrs["value"] == str(n)
    assert {e.text for e in version_rows(doc)[3].find_all(cls="alias")} == {"production"}
    assert {e.text for e in version_rows(doc)[0].find_all(cls="alias")} == {"staging"}


def test_the_aliases_and_their_current_versions(http: Any, s: Scenario) -> None:
    doc = get(http, s.model_url)
    rows = doc.by_id("aliases").find_all("tr", cls="")
    current = {
        tr.attrs["data-alias"]: tr.find("td", cls="num").text
        for tr in rows
        if "data-alias" in tr.attrs
    }
    assert current == {"production": "3", "staging": "6"}


def test_alias_history_is_a_timeline_newest_first(
    http: Any, s: Scenario, sync_client: modelreg.Client
) -> None:
    doc = get(http, s.model_url)
    shown = [
        (li.attrs["data-alias"], li.attrs["data-from"], li.attrs["data-to"])
        for li in doc.by_id("alias-history").find_all("li")
    ]
    # ALIAS_MOVES, newest first: (alias, from, to).
    expected = [
        ("staging", "5", "6"),
        ("production", "5", "3"),
        ("production", "3", "5"),
        ("staging", "2", "5"),
        ("production", "1", "3"),
        ("staging", "", "2"),
        ("production", "", "1"),
    ]
    assert len(expected) == len(ALIAS_MOVES)
    assert shown == expected
    # The same as the SDK says, alias by alias.
    for alias in ("production", "staging"):
        events = sync_client.alias_history(s.project, MODEL, alias)
        mine = [x for x in shown if x[0] == alias]
        assert mine == [(alias, str(e.from_version or ""), str(e.to_version)) for e in events]
    first = doc.by_id("alias-history").find("li")
    assert "tester" in first.text and "promote v6" in first.text
    rollback = doc.by_id("alias-history").find("li", cls="kind-ROLLBACK")
    assert "rolled back" in rollback.text and "bad canary" in rollback.text


def differing_rows(doc: Element) -> tuple[set[str], set[str]]:
    rows = [tr for tr in doc.by_id("compare-params").find_all("tr") if "data-param" in tr.attrs]
    differs = {tr.attrs["data-param"] for tr in rows if "differs" in tr.classes}
    same = {tr.attrs["data-param"] for tr in rows if "differs" not in tr.classes}
    return differs, same


@pytest.mark.parametrize(
    ("a", "b", "differ"),
    [(3, 5, {"lr", "layers"}), (3, 4, {"optimizer"}), (3, 6, {"lr", "frozen"})],
)
def test_compare_highlights_exactly_the_differing_params(
    http: Any, s: Scenario, sync_client: modelreg.Client, a: int, b: int, differ: set[str]
) -> None:
    doc = get(http, s.model_url, compare=[a, b])
    differs, same = differing_rows(doc)
    assert differs == differ
    assert differs | same == set(PARAMS[a]) | set(PARAMS[b])
    assert differ == set(sync_client.compare_versions(s.project, MODEL, [a, b]).differing_params)
    # The boxes of the compared versions stay ticked.
    ticked = {
        int(i.attrs["value"])
        for i in doc.by_id("versions").find_all("input")
        if "checked" in i.attrs
    }
    assert ticked == {a, b}
    # The values side by side, in the order asked for.
    header = [th.text for th in doc.by_id("compare-params").find("thead").find_all("th")]
    assert header == ["param", f"ranker_v{a}", f"ranker_v{b}"]
    lr = doc.by_id("compare-params").find("tr", data_param="lr")
    assert [td.text for td in lr.find_all("td")] == [str(PARAMS[a]["lr"]), str(PARAMS[b]["lr"])]


def test_compare_shows_missing_params_as_absent(http: Any, s: Scenario) -> None:
    doc = get(http, s.model_url, compare=[3, 6])
    frozen = doc.by_id("compare-params").find("tr", data_param="frozen")
    assert [td.text for td in frozen.find_all("td")] == ["—", "true"]


def test_compare_shows_metrics_per_dataset_version_and_slice(
    http: Any, s: Scenario, sync_client: modelreg.Client
) -> None:
    doc = get(http, s.model_url, compare=[3, 5])
    table = doc.by_id("compare-metrics")
    shown = {
        (tr.attrs["data-dataset"], tr.attrs["data-slice"], tr.attrs["data-metric"]): {
            int(td.attrs["data-version"]): td.text for td in tr.find_all("td", cls="num")
        }
        for tr in table.find_all("tr")
        if "data-metric" in tr.attrs
    }
    comparison = sync_client.compare_versions(s.project, MODEL, [3, 5])
    expected = {
        (m.dataset_version, m.slice, m.metric): {
            n: "—" if v is None else f"{v:.4g}" for n, v in zip((3, 5), m.values, strict=True)
        }
        for m in comparison.metrics
    }
    assert shown == expected
    holdout = s.holdout.resource_name
    assert shown[(holdout, "", "accuracy")] == {3: "0.82", 5: "0.86"}
    assert shown[(holdout, "country=kr", "accuracy")] == {3: "0.77", 5: "0.81"}
    assert shown[(s.test.resource_name, "", "accuracy")] == {3: "0.79", 5: "0.78"}
    assert shown[(holdout, "", "loss")] == {3: "0.5", 5: "0.45"}


def test_the_differing_only_toggle(http: Any, s: Scenario) -> None:
    doc = get(http, s.model_url, compare=[3, 5])
    toggle = doc.by_id("differing-toggle").attrs["href"]
    assert "differing=1" in toggle and "compare=3" in toggle and "compare=5" in toggle
    only = get(http, toggle)
    differs, same = differing_rows(only)
    assert differs == {"lr", "layers"} and same == set()
    back = only.by_id("differing-toggle").attrs["href"]
    assert "differing" not in back and "compare=3" in back
    # Nothing differs: said so.
    none = get(http, s.model_url, compare=[3, 3], differing=1)
    assert "No param differs" in none.by_id("compare-params").text


def ranking(doc: Element) -> list[tuple[int, str]]:
    rows = [tr for tr in doc.by_id("ranking").find_all("tr") if "data-version" in tr.attrs]
    return [(int(tr.attrs["data-version"]), tr.find("td", cls="score").text) for tr in rows]


@pytest.mark.parametrize(
    ("metric", "dataset", "goal", "slice"),
    [
        ("accuracy", "holdout", "max", ""),
        ("loss", "holdout", "min", ""),
        ("loss", "holdout", "max", ""),
        ("accuracy", "test", "max", ""),
        ("accuracy", "holdout", "max", "country=kr"),
    ],
)
def test_best_version_is_the_sdks(
    http: Any,
    s: Scenario,
    sync_client: modelreg.Client,
    metric: str,
    dataset: str,
    goal: str,
    slice: str,
) -> None:
    dv = getattr(s, dataset).resource_name
    doc = get(http, s.model_url, metric=metric, dataset=dv, goal=goal, slice=slice)
    best = sync_client.best_version(
        s.project, MODEL, metric=metric, dataset=dv, goal=goal, slice=slice
    )
    assert doc.by_id("best-version").find("a", cls="best").attrs["data-version"] == str(
        best.version
    )
    ranked = list(
        sync_client.rank_versions(
            s.project, MODEL, metric=metric, dataset=dv, goal=goal, slice=slice
        )
    )
    assert ranking(doc) == [(r.version.version, f"{r.score:.4g}") for r in ranked]
    first = doc.by_id("ranking").find("tr", data_version=str(best.version))
    assert "best" in first.classes
    assert sum("best" in tr.classes for tr in doc.by_id("ranking").find_all("tr")) == 1
    spec = json.loads(doc.by_id("ranking-chart").attrs["data-chart"])
    assert points_of(spec) == len(ranked)
    assert spec["x_labels"] == [r.version.display_name for r in ranked]
    assert [v for v in spec["series"][0]["values"] if v is not None] == [r.score for r in ranked]


def test_best_by_loss_differs_with_the_goal(http: Any, s: Scenario) -> None:
    dv = s.holdout.resource_name
    low = get(http, s.model_url, metric="loss", dataset=dv, goal="min")
    high = get(http, s.model_url, metric="loss", dataset=dv, goal="max")
    assert ranking(low)[0] == (6, "0.4") and ranking(high)[0] == (1, "0.9")


def test_ranking_top_and_nothing_to_rank(http: Any, s: Scenario) -> None:
    dv = s.holdout.resource_name
    doc = get(http, s.model_url, metric="accuracy", dataset=dv, top=2)
    assert ranking(doc) == [(5, "0.86"), (6, "0.84")]
    empty = get(http, s.model_url, metric="accuracy", dataset=s.train.resource_name)
    assert "No version has an evaluation of accuracy on train/v1" in empty.by_id("best").text
    assert not empty.find_all(id_="ranking")


def test_the_ranking_form_offers_what_exists(http: Any, s: Scenario) -> None:
    doc = get(http, s.model_url)
    form = doc.by_id("rank-form")
    metrics = [o.text for o in form.find("select", name="metric").find_all("option")]
    assert metrics == ["—", "accuracy", "loss"]
    datasets = {o.attrs["value"] for o in form.find("select", name="dataset").find_all("option")}
    assert datasets == {"", *(d.resource_name for d in (s.holdout, s.test, s.train))}
    slices = [o.attrs["value"] for o in form.find("select", name="slice").find_all("option")]
    assert slices == ["", "country=kr"]
    # The form keeps the comparison.
    kept = get(http, s.model_url, compare=[3, 5]).by_id("rank-form")
    assert [i.attrs["value"] for i in kept.find_all("input", name="compare")] == ["3", "5"]


def test_versions_page_on_the_server(http: Any, s: Scenario) -> None:
    first = get(http, s.model_url, page_size=4, compare=[1, 2])
    assert numbers(first) == [6, 5, 4, 3]
    (next_link,) = [a for a in first.find_all("a") if a.attrs.get("rel") == "next"]
    url = next_link.attrs["href"]
    assert "compare=1" in url and "compare=2" in url and "page_size=4" in url
    second = get(http, url)
    assert numbers(second) == [2, 1]
    assert not [a for a in second.find_all("a") if a.attrs.get("rel") == "next"]
    # The comparison is still there, and the compare form keeps the page.
    assert differing_rows(second)[0] == {"lr", "optimizer"}
    hidden = {
        i.attrs["name"]: i.attrs["value"]
        for i in second.by_id("compare-form").find_all("input", type="hidden")
    }
    assert hidden["page_size"] == "4" and hidden["page_token"]
    assert [a for a in second.find_all("a") if a.attrs.get("rel") == "first"]


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"goal": "sideways", "metric": "accuracy"}, "goal"),
        ({"differing": "maybe"}, "differing"),
        ({"page_size": "0"}, "page_size"),
        ({"page_size": "many"}, "page_size"),
        ({"top": "1000", "metric": "accuracy"}, "top"),
        ({"metric": "accuracy"}, "dataset"),
        ({"dataset": "projects/x/datasets/d/versions/v"}, "metric"),
        ({"metric": "accuracy", "dataset": "holdout"}, "dataset"),
        ({"compare": [str(n) for n in range(1, 103)]}, "compare"),
    ],
)
def test_bad_parameters_are_400_naming_them(
    http: Any, s: Scenario, params: dict[str, Any], name: str
) -> None:
    doc = get(http, s.model_url, 400, **params)
    error = doc.find("section", cls="error")
    assert error.attrs["data-status"] == "400"
    assert f"field {name}" in error.find("dl").text


@pytest.mark.parametrize("bad", ["99", "abc", "0", "-1"])
def test_a_bad_compare_value_is_the_apis_error(http: Any, s: Scenario, bad: str) -> None:
    response = http.get(s.model_url, params={"compare": ["3", bad]})
    assert response.status_code in (400, 404), response.text[-1000:]
    assert "Traceback" not in response.text
    doc = parse(response.text)
    error = doc.find("section", cls="error")
    assert {"NOT_FOUND", "INVALID_ARGUMENT"} & set(error.find("dl").text.split())
    assert bad in error.text


def test_a_bad_ranking_metric_is_the_apis_error(http: Any, s: Scenario) -> None:
    response = http.get(
        s.model_url, params={"metric": "no such metric!", "dataset": s.holdout.resource_name}
    )
    assert response.status_code == 400 and "INVALID_ARGUMENT" in response.text
    assert "Traceback" not in response.text


def test_an_unknown_model_is_404(http: Any, s: Scenario) -> None:
    response = http.get(f"/projects/{s.project}/models/no_such_model")
    assert response.status_code == 404
    assert "NOT_FOUND" in response.text and "no_such_model" in response.text
    assert "Traceback" not in response.text
    response = http.get("/projects/no_such_project_x/models/ranker")
    assert response.status_code == 404 and "Traceback" not in response.text


def test_a_model_without_versions(http: Any, s: Scenario, sync_client: modelreg.Client) -> None:
    sync_client.create_model(s.project, "empty", description="nothing yet")
    doc = get(http, f"/projects/{s.project}/models/empty")
    assert "nothing yet" in doc.by_id("model-facts").text
    assert "No versions yet" in doc.by_id("versions").text
    assert "No aliases" in doc.by_id("aliases").text
    assert "No alias has moved yet" in doc.by_id("alias-history").text
    assert "Tick two or more versions" in doc.by_id("compare").text
    metrics = doc.by_id("rank-form").find("select", name="metric").find_all("option")
    assert [o.text for o in metrics] == ["—"]


def test_an_archived_version_says_so(http: Any, s: Scenario, sync_client: modelreg.Client) -> None:
    v = sync_client.register_model_version(s.project, "archived", artifact_uri="s3://a/1")
    sync_client.archive_model_version(s.project, "archived", v.version)
    doc = get(http, f"/projects/{s.project}/models/archived")
    (row,) = version_rows(doc)
    assert row.find("td", cls="state-ARCHIVED").text == "ARCHIVED"
