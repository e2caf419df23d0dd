"""The version page and the lineage page over HTTP against a real server (data:
tests/ui_models_support.py): a version's facts, training data, params, evaluations as
chart specs and a table, its lineage graph (inline SVG in columns, every node a link);
a version by alias; the lineage page of a dataset version, a run and a deployment, its
depth, direction and node limit; 404s and 400s."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

import modelreg
from modelreg_ui.charts import points_of
from modelreg_ui.pages import lineage_graph
from tests.ui_models_support import MODEL, PARAMS, Element, Scenario, build, get, parse


@pytest.fixture(scope="module")
def s(target: str) -> Iterator[Scenario]:
    with modelreg.Client(target, actor="tester") as c:
        yield build(c)


def facts(doc: Element, dl_id: str) -> dict[str, Element]:
    dl = doc.by_id(dl_id)
    items = [e for e in dl.children if isinstance(e, Element) and e.tag in ("dt", "dd")]
    return {dt.text: dd for dt, dd in zip(items[::2], items[1::2], strict=True)}


def nodes(doc: Element) -> dict[str, Element]:
    """The graph's nodes by resource name (each an SVG <a>)."""
    svg = doc.find("svg", cls="lineage")
    return {a.attrs["data-name"]: a for a in svg.find_all("a", cls="node")}


def edges(doc: Element) -> set[tuple[str, str]]:
    svg = doc.find("svg", cls="lineage")
    return {
        (p.attrs["data-upstream"], p.attrs["data-downstream"])
        for p in svg.find_all("path", cls="edge")
    }


def test_version_page_shows_what_the_version_records(http: Any, s: Scenario) -> None:
    v = s.versions[3]
    doc = get(http, s.version_url(3))
    assert doc.find("h1").text == "ranker_v3 production"
    f = facts(doc, "version-facts")
    assert f["resource"].text == v.resource_name
    assert f["state"].text == "READY"
    assert f["artifact"].text == "s3://m/ranker/3/model.pt"
    assert f["sha256"].text == f"{3:064x}"
    assert f["format"].text == "pytorch"
    assert f["architecture"].text == "mlp"
    assert json.loads(f["architecture config"].text) == {"hidden": 192, "activation": "relu"}
    assert f["code"].text == "git@example.com:ml/ranker @ c0ffee3"
    assert f["source run"].find("a").attrs["href"] == f"/projects/{s.project}/runs/r3"
    assert f["parent version"].text == "none"
    assert f["labels"].text == "team=search"
    assert f["description"].text == "ranker number 3"
    assert f["aliases"].text == "production"
    assert f["created by"].text == "tester"
    params = {
        tr.attrs["data-param"]: tr.find("td").text
        for tr in doc.by_id("params").find_all("tr")
        if "data-param" in tr.attrs
    }
    assert params == {k: str(val) for k, val in PARAMS[3].items()}


def test_training_data_links_to_the_dataset_versions(http: Any, s: Scenario) -> None:
    doc = get(http, s.version_url(3))
    (row,) = [tr for tr in doc.by_id("training-data").find_all("tr") if tr.find_all("td")]
    assert row.find("a").attrs["href"] == f"/lineage/{s.train.resource_name}"
    assert [td.text for td in row.find_all("td")] == ["train/v1", "2026-01-05", "train"]


def test_a_fine_tuned_version_links_its_parent(http: Any, s: Scenario) -> None:
    f = facts(get(http, s.version_url(6)), "version-facts")
    assert f["parent version"].find("a").attrs["href"] == s.version_url(3)


def test_evaluations_as_a_chart_and_a_table(
    http: Any, s: Scenario, sync_client: modelreg.Client
) -> None:
    doc = get(http, s.version_url(3))
    evaluations = list(sync_client.list_evaluations(s.project, MODEL, 3))
    (chart,) = doc.by_id("evaluations").find_all(cls="evaluation-chart")
    spec = json.loads(chart.attrs["data-chart"])
    # One group per dataset version [slice], one bar per metric; a point per value.
    assert spec["kind"] == "bars"
    assert spec["x_labels"] == ["holdout/v1", "holdout/v1 [country=kr]", "test/v1"]
    assert points_of(spec) == sum(len(e.metrics) for e in evaluations) == 4
    by_label = {series["label"]: series["values"] for series in spec["series"]}
    assert [v for v in by_label["accuracy"] if v is not None] == [0.82, 0.77, 0.79]
    assert [v for v in by_label["loss"] if v is not None] == [0.5]
    rows = [tr for tr in doc.by_id("evaluation-table").find_all("tr") if "data-dataset" in tr.attrs]
    shown = {
        (tr.attrs["data-dataset"], tr.attrs["data-slice"]): {
            td.attrs["data-metric"]: td.text
            for td in tr.find_all("td")
            if "data-metric" in td.attrs
        }
        for tr in rows
    }
    assert shown == {
        (e.dataset_version, e.slice): {
            "accuracy": f"{e.metrics['accuracy']:.4g}",
            "loss": f"{e.metrics['loss']:.4g}" if "loss" in e.metrics else "",
        }
        for e in evaluations
    }
    assert f"/projects/{s.project}/runs/r3" in rows[0].links()


def test_metrics_of_far_apart_scales_get_a_chart_each(
    http: Any, s: Scenario, sync_client: modelreg.Client
) -> None:
    v = sync_client.register_model_version(s.project, "scales", artifact_uri="s3://m/scales/1")
    sync_client.log_evaluation(v, dataset=s.holdout, metrics={"accuracy": 0.9, "perplexity": 45.0})
    sync_client.log_evaluation(v, dataset=s.test, metrics={"accuracy": 0.8, "perplexity": 51.0})
    doc = get(http, f"/projects/{s.project}/models/scales/versions/1")
    specs = [json.loads(c.attrs["data-chart"]) for c in doc.find_all(cls="evaluation-chart")]
    assert [spec["title"] for spec in specs] == ["accuracy", "perplexity"]
    assert [points_of(spec) for spec in specs] == [2, 2]
    # No evaluation: no chart, and the table says so.
    bare = get(http, f"/projects/{s.project}/models/ranker/versions/1")
    assert len(bare.find_all(cls="evaluation-chart")) == 1
    sync_client.register_model_version(s.project, "scales", artifact_uri="s3://m/scales/2")
    none = get(http, f"/projects/{s.project}/models/scales/versions/2")
    assert not none.find_all(cls="evaluation-chart")
    assert "No evaluations yet" in none.by_id("evaluation-table").text


def test_the_lineage_graph_links_upstream_and_downstream(http: Any, s: Scenario) -> None:
    doc = get(http, s.version_url(3))
    found = nodes(doc)
    v3, v6 = s.versions[3].resource_name, s.versions[6].resource_name
    train, run = s.train.resource_name, s.runs[3]
    assert found[train].attrs["href"] == f"/lineage/{train}"
    assert found[run].attrs["href"] == f"/projects/{s.project}/runs/r3"
    assert found[v6].attrs["href"] == s.version_url(6)
    assert "focus" in found[v3].classes
    # In columns: what it came from on the left, what came of it on the right; the
    # dataset left of the run that read it.
    column = {name: int(a.attrs["data-column"]) for name, a in found.items()}
    assert column[v3] == 0 and column[run] == -1 and column[train] == -2 and column[v6] == 1
    assert all(column[n] > 0 for n in found if "/evaluations/" in n)
    assert {(train, v3), (run, v3), (train, run), (v3, v6)} <= edges(doc)
    # The list fallback has every node too.
    listed = doc.find("details", cls="lineage-list").links()
    assert sorted(listed) == sorted(a.attrs["href"] for a in found.values())


def test_version_by_alias(http: Any, s: Scenario) -> None:
    production = get(http, s.version_url("production"))
    assert production.find("h1").text.startswith("ranker_v3")
    staging = get(http, s.version_url("staging"))
    assert facts(staging, "version-facts")["resource"].text == s.versions[6].resource_name
    latest = get(http, s.version_url("latest"))
    assert latest.find("h1").text.startswith("ranker_v6")


@pytest.mark.parametrize("ref", ["99", "no_such_alias", "²", "99999999999999999999999"])
def test_an_unknown_version_is_the_apis_error(http: Any, s: Scenario, ref: str) -> None:
    response = http.get(s.version_url(ref))
    assert response.status_code in (400, 404), response.text[-1000:]
    assert "Traceback" not in response.text
    # The API's error: no such version, or not a version number or alias.
    assert ("NOT_FOUND" if response.status_code == 404 else "INVALID_ARGUMENT") in response.text
    unknown_model = http.get(f"/projects/{s.project}/models/nope/versions/1")
    assert unknown_model.status_code == 404 and "Traceback" not in unknown_model.text


def test_version_page_depth(http: Any, s: Scenario) -> None:
    shallow = nodes(get(http, s.version_url(3), depth=1))
    assert s.train.resource_name in shallow and s.runs[3] in shallow
    assert not [n for n in shallow if "/versions/6/evaluations/" in n]
    bad = get(http, s.version_url(3), 400, depth=11)
    assert "depth" in bad.find("section", cls="error").text


def test_lineage_page_of_a_dataset_version(http: Any, s: Scenario) -> None:
    train = s.train.resource_name
    doc = get(http, f"/lineage/{train}")
    assert doc.by_id("kind").text == "batch"
    f = facts(doc, "node-facts")
    assert f["batch_id"].text == "2026-01-05" and f["dataset"].text == "train"
    found = nodes(doc)
    column = {name: int(a.attrs["data-column"]) for name, a in found.items()}
    # Everything came of it: six runs read it, six versions trained on it.
    for n in range(1, 7):
        assert found[s.runs[n]].attrs["href"] == f"/projects/{s.project}/runs/r{n}"
        assert column[s.runs[n]] == 1
        assert found[s.versions[n].resource_name].attrs["href"] == s.version_url(n)
        assert column[s.versions[n].resource_name] >= 2
    assert min(column.values()) == 0
    deployment = f"projects/{s.project}/deployments/web"
    assert found[deployment].attrs["href"] == f"/{deployment}"
    # Depth and direction.
    near = nodes(get(http, f"/lineage/{train}", depth=1))
    assert not [n for n in near if "/evaluations/" in n or "/deployments/" in n]
    up = nodes(get(http, f"/lineage/{train}", direction="upstream"))
    assert list(up) == [train]


def test_lineage_page_of_a_run_and_a_deployment(http: Any, s: Scenario) -> None:
    run = get(http, f"/lineage/{s.runs[3]}", direction="up")
    assert run.by_id("own-page").attrs["href"] == f"/projects/{s.project}/runs/r3"
    assert set(nodes(run)) == {s.runs[3], s.train.resource_name}
    deployment = f"projects/{s.project}/deployments/web"
    doc = get(http, f"/lineage/{deployment}", direction="upstream", depth=2)
    assert doc.by_id("kind").text == "deployment"
    found = nodes(doc)
    assert found[s.versions[5].resource_name].attrs["href"] == s.version_url(5)
    assert s.runs[5] in found and int(found[s.runs[5]].attrs["data-column"]) < 0


def test_lineage_page_of_a_pipeline_run_and_its_step(http: Any, s: Scenario) -> None:
    doc = get(http, f"/lineage/{s.pipeline_run}")
    assert doc.by_id("kind").text == "pipeline run"
    assert facts(doc, "node-facts")["state"].text == "SUCCEEDED"
    step = f"{s.pipeline_run}/steps/validate"
    found = nodes(doc)
    assert found[step].attrs["href"] == f"/lineage/{step}"
    assert int(found[step].attrs["data-column"]) == 1
    # The step read version 5 and test/v1: upstream of it.
    doc = get(http, found[step].attrs["href"])
    assert doc.by_id("kind").text == "pipeline step"
    found = nodes(doc)
    assert found[s.versions[5].resource_name].attrs["href"] == s.version_url(5)
    assert found[s.test.resource_name].attrs["href"] == f"/lineage/{s.test.resource_name}"
    assert int(found[s.test.resource_name].attrs["data-column"]) < 0


def test_lineage_graph_cut_at_the_node_limit(http: Any, s: Scenario) -> None:
    doc = get(http, f"/lineage/{s.train.resource_name}", max_nodes=5)
    assert len(nodes(doc)) == 5
    assert "cut short" in doc.find("p", cls="truncated").text
    whole = get(http, f"/lineage/{s.train.resource_name}", depth=1)
    assert not whole.find_all("p", cls="truncated")


def test_layout_keeps_the_nearest_nodes(sync_client: modelreg.Client, s: Scenario) -> None:
    down = sync_client.lineage(s.train, direction="downstream", depth=2)
    near = {n.name for n in down.nodes if n.distance <= 1}
    assert {*s.runs.values(), *(v.resource_name for v in s.versions.values())} < near
    laid = lineage_graph.layout(None, down, max_nodes=len(near))
    assert laid.truncated and laid.dropped == len(down.nodes) - len(near) > 0
    # The root and what is one edge away (runs, versions) come before anything farther.
    assert {n.name for n in laid.nodes} == near
    # Every edge drawn joins two nodes drawn.
    drawn = {n.name for n in laid.nodes}
    assert all(e.upstream in drawn and e.downstream in drawn for e in laid.edges)


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("projects/{p}/datasets/nope/versions/v1", 404),
        ("projects/{p}/runs/no_such_run", 404),
        ("projects/{p}/models/ranker/versions/99", 404),
        ("garbage", 404),
        ("projects/{p}/datasets/train/versions/v1?direction=sideways", 400),
        ("projects/{p}/datasets/train/versions/v1?depth=0", 400),
        ("projects/{p}/datasets/train/versions/v1?max_nodes=1", 400),
    ],
)
def test_lineage_page_errors(http: Any, s: Scenario, path: str, status: int) -> None:
    response = http.get("/lineage/" + path.format(p=s.project))
    assert response.status_code == status, response.text[-1000:]
    assert "Traceback" not in response.text
    if status == 400:
        param = path.split("?")[1].split("=")[0]
        assert f"field {param}" in parse(response.text).find("section", cls="error").text
