"""A project's page over HTTP against a real server: its models with version counts,
recent runs, datasets with their versions and deployments, all linked; an empty project
says so; an unknown project is a 404 page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

import modelreg
from tests import ui_runs_support as data
from tests.conftest import unique


@pytest.fixture(scope="module")
def built(target: str) -> Iterator[data.Built]:
    with modelreg.Client(target, actor="tester") as c:
        yield data.build(c)


def section(text: str, table_id: str) -> str:
    found = re.search(rf'<table class="grid" id="{table_id}">(.*?)</table>', text, re.S)
    assert found, table_id
    return found.group(1)


def test_project_page_shows_everything_at_a_glance(http: Any, built: data.Built) -> None:
    p = built.project
    response = http.get(f"/projects/{p}")
    assert response.status_code == 200
    text = response.text
    assert "runs of the dashboard tests" in text
    models = section(text, "models")
    assert f'href="/projects/{p}/models/clf"' in models
    assert f'<td class="num">{data.PRODUCING}</td>' in models
    runs = section(text, "recent-runs")
    # The ten newest runs, newest first, each linked; a link to the whole table.
    assert re.findall(r'href="/projects/[^/]+/runs/(run_\d+)"', runs) == [
        data.run_id(i) for i in range(data.RUNS - 1, data.RUNS - 11, -1)
    ]
    assert f'href="/projects/{p}/runs"' in text
    datasets = section(text, "datasets")
    assert "<td>train</td>" in datasets and "<td>test</td>" in datasets
    for name in (built.train, built.q1, built.q2):
        assert f'href="/lineage/{name}"' in datasets
    assert "batch 2024-q2" in datasets
    deployments = section(text, "deployments")
    assert f'href="/projects/{p}/deployments/prod"' in deployments
    assert f'href="/projects/{p}/models/clf/versions/1"' in deployments
    assert "90%" in deployments and "10%" in deployments
    assert "Traceback" not in text


def test_an_empty_project_says_so(http: Any, sync_client: modelreg.Client) -> None:
    name = unique("uiempty")
    sync_client.create_project(name)
    response = http.get(f"/projects/{name}")
    assert response.status_code == 200
    for empty in (
        "No models yet.",
        "No runs yet.",
        "No datasets yet.",
        "No deployments.",
        "No pipelines.",
    ):
        assert empty in response.text
    runs = http.get(f"/projects/{name}/runs")
    assert runs.status_code == 200 and "No runs." in runs.text


def test_project_page_lists_pipelines_and_their_recent_runs(http: Any, target: str) -> None:
    from tests.test_examples_e2e import run_example

    project = unique("uipipes")
    run_example("pipeline_mode.py", target, project)
    run_example("pipeline_mode.py", target, project)  # a rerun: two runs of one pipeline
    with modelreg.Client(target) as c:
        (pipeline,) = c.list_pipelines(project)
        runs = list(c.list_pipeline_runs(project, order_by="start_time desc"))
    assert len(runs) == 2
    text = http.get(f"/projects/{project}").text
    # One section each, in the page's body: the title and crumbs are only the name.
    assert f"<title>{project} · modelreg</title>" in text
    assert text.count('id="pipelines"') == 1 and text.count("<h2>Pipelines</h2>") == 1
    assert text.index("<h2>Pipelines</h2>") > text.index("<main>")
    pipelines = section(text, "pipelines")
    assert f"<td>{pipeline.name}</td>" in pipelines and '<td class="num">2</td>' in pipelines
    assert f'href="/lineage/{pipeline.latest_run}"' in pipelines
    recent = section(text, "pipeline-runs")
    found = re.findall(r'href="/lineage/projects/[^"]+/runs/([^"]+)"', recent)
    assert found == [r.run_id for r in runs]  # newest first
    for step in runs[0].steps:
        assert f">{step.name}</span>" in recent
    assert http.get(f"/lineage/{runs[0].resource_name}").status_code == 200


def test_an_unknown_project_is_a_404_page(http: Any) -> None:
    response = http.get("/projects/no_such_project_y")
    assert response.status_code == 404
    assert "no_such_project_y" in response.text and "NOT_FOUND" in response.text
    assert "Traceback" not in response.text
