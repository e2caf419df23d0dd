"""Every link of the dashboard leads somewhere: both examples record a project each
(a pipeline with a deployment and predictions; daily batches with fine-tuned versions),
then a crawler follows every in-project link from the project page, across all areas
(runs, models, versions, lineage nodes, deployments, production), and every page it
reaches answers 200 with no traceback."""

from __future__ import annotations

import html
import re
from collections import deque
from typing import Any

import pytest

from tests.conftest import unique
from tests.test_examples_e2e import run_example

MAX_PAGES = 400
HREF = re.compile(r'href="([^"]+)"')


def crawl(http: Any, project: str) -> dict[str, int]:
    """Status of every page reachable from the project page through links in scope."""
    scope = (f"/projects/{project}", f"/lineage/projects/{project}")
    seen: dict[str, int] = {}
    queue = deque([f"/projects/{project}"])
    while queue and len(seen) < MAX_PAGES:
        url = queue.popleft()
        if url in seen:
            continue
        response = http.get(url)
        seen[url] = response.status_code
        assert "Traceback" not in response.text, url
        if response.status_code != 200:
            continue
        for raw in HREF.findall(response.text):
            link = html.unescape(raw).split("#")[0]
            if link.startswith("?"):
                link = url.split("?")[0] + link
            if link.startswith(scope) and link not in seen:
                queue.append(link)
    return seen


@pytest.mark.parametrize("example", ["pipeline_mode.py", "batch_mode.py"])
def test_every_link_from_an_example_project_answers(http: Any, target: str, example: str) -> None:
    project = unique("uilinks")
    run_example(example, target, project)
    statuses = crawl(http, project)
    broken = {url: status for url, status in statuses.items() if status != 200}
    assert broken == {}
    paths = {url.split("?")[0] for url in statuses}
    # The crawl went through every area, not just the first page.
    for pattern in (
        rf"/projects/{project}/runs/[^/]+$",
        rf"/projects/{project}/models/[^/]+$",
        rf"/projects/{project}/models/[^/]+/versions/\d+$",
        r"/lineage/projects/.+/datasets/.+/versions/",
    ):
        assert any(re.search(pattern, p) for p in paths), pattern
    if example == "pipeline_mode.py":
        assert any(p.endswith("/deployments/prod") for p in paths)
        assert any(p.endswith("/production") for p in paths)
        assert any("/pipelines/" in p for p in paths)
