"""The dashboard's frame, over HTTP against a real server: the projects page, static
assets shipped in the package, error pages (404, bad parameters, an unreachable API)
and the key page with its HttpOnly cookie."""

from __future__ import annotations

import html
import re
import socket
from typing import Any

import httpx

import modelreg
from tests.conftest import unique
from tests.ui_support import running_ui


def test_projects_page_lists_projects_with_links(http: Any, sync_client: modelreg.Client) -> None:
    name = unique("uiproj")
    sync_client.create_project(name, description="a <b>bold</b> claim")
    response = http.get("/", params={"filter": f'name = "{name}"'})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert f'href="/projects/{name}"' in response.text
    assert response.text.count("<tr data-project=") == 1
    # Text from the API is escaped, never markup.
    assert "a &lt;b&gt;bold&lt;/b&gt; claim" in response.text


def test_projects_page_pages_on_the_server_keeping_its_query(
    http: Any, sync_client: modelreg.Client
) -> None:
    tag = unique("t")
    made = {unique("uipage") for _ in range(3)}
    for name in made:
        sync_client.create_project(name, labels={"uitest": tag})
    query = {"filter": f'labels.uitest = "{tag}"', "page_size": 2, "order": "newest"}
    first = http.get("/", params=query)
    assert first.status_code == 200
    assert first.text.count("<tr data-project=") == 2
    link = re.search(r'rel="next" href="([^"]+)"', first.text)
    assert link, "a next-page link"
    next_url = html.unescape(link.group(1))
    assert "page_size=2" in next_url and "order=newest" in next_url and "filter=" in next_url
    second = http.get(next_url)
    assert second.status_code == 200
    first_names = set(re.findall(r'href="/projects/([^"]+)"', first.text))
    second_names = set(re.findall(r'href="/projects/([^"]+)"', second.text))
    assert first_names | second_names == made and not first_names & second_names
    assert 'rel="next"' not in second.text


def test_projects_page_sums_up_each_project(http: Any, sync_client: modelreg.Client) -> None:
    name, empty, tag = unique("uiglance"), unique("uiglance"), unique("g")
    c = sync_client
    c.create_project(name, labels={"glance": tag})
    c.create_project(empty, labels={"glance": tag})
    c.create_model(name, "a")
    c.create_model(name, "b")
    for model, n in (("a", 2), ("b", 1)):
        for i in range(n):
            c.register_model_version(name, model, artifact_uri=f"s3://m/{model}/{i}")
    c.create_dataset_version(name, "train", uri="s3://d/train")
    c.create_deployment(name, "prod", model="a", traffic={1: 100})
    with c.start_run(name) as run:
        run.log_params({"lr": 0.1})
    started = c.get_run(name, run.run_id).start_time
    text = http.get("/", params={"filter": f'labels.glance = "{tag}"'}).text
    rows = dict(re.findall(r'<tr data-project="([^"]+)">(.*?)</tr>', text, re.S))

    def cell(row: str, kind: str) -> str:
        found = re.search(rf'<td class="[^"]*\b{kind}\b[^"]*">(.*?)</td>', row, re.S)
        assert found, kind
        return re.sub(r"<[^>]+>", "", found.group(1)).strip()

    assert [cell(rows[name], k) for k in ("models", "versions", "datasets", "deployments")] == [
        "2",
        "3",
        "1",
        "1",
    ]
    assert cell(rows[name], "latest-run") == started.strftime("%Y-%m-%d %H:%M:%S")
    assert [cell(rows[empty], k) for k in ("models", "versions", "datasets", "deployments")] == [
        "0",
        "0",
        "0",
        "0",
    ]
    assert cell(rows[empty], "latest-run") == ""


def test_projects_page_bad_filter_and_order(http: Any) -> None:
    bad = http.get("/", params={"filter": "colour = 3"})
    assert bad.status_code == 400 and "INVALID_ARGUMENT" in bad.text and "filter" in bad.text
    assert http.get("/", params={"order": "size"}).status_code == 400


def test_static_assets_ship_in_the_package(http: Any) -> None:
    for path, kind in [
        ("/static/uPlot.iife.min.js", "javascript"),
        ("/static/charts.js", "javascript"),
        ("/static/style.css", "css"),
        ("/static/uPlot.min.css", "css"),
    ]:
        response = http.get(path)
        assert response.status_code == 200, path
        assert kind in response.headers["content-type"], path
    page = http.get("/").text
    # No CDN: every script and stylesheet is the dashboard's own.
    assert not re.search(r'(src|href)="(https?:)?//', page)


def test_an_unknown_page_is_a_404_page(http: Any) -> None:
    response = http.get("/no/such/page")
    assert response.status_code == 404
    assert "404" in response.text and "/no/such/page" in response.text
    assert "Traceback" not in response.text


def test_a_bad_parameter_names_it(http: Any) -> None:
    response = http.get("/", params={"page_size": "lots"})
    assert response.status_code == 400
    assert "page_size" in response.text and "whole number" in response.text
    too_big = http.get("/", params={"page_size": 100000})
    assert too_big.status_code == 400 and "between 1 and 500" in too_big.text


def test_a_bad_page_token_is_the_apis_error_shown_cleanly(http: Any) -> None:
    response = http.get("/", params={"page_token": "forged"})
    assert response.status_code == 400
    assert "INVALID_ARGUMENT" in response.text and "page_token" in response.text
    assert "Traceback" not in response.text


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_api_is_a_503_page() -> None:
    with running_ui(f"127.0.0.1:{_closed_port()}", retry_s=0.5, timeout_s=1.0) as ui:
        response = httpx.get(ui.url + "/", timeout=30)
    assert response.status_code == 503
    assert "UNAVAILABLE" in response.text
    assert "Traceback" not in response.text


def test_every_response_carries_the_security_headers(http: Any) -> None:
    for path in ("/", "/static/charts.js", "/no/such/page"):
        response = http.get(path)
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert response.headers["x-frame-options"] == "DENY", path


def test_pages_are_read_only(http: Any) -> None:
    # The dashboard changes nothing: only the key page takes a POST.
    for path in (
        "/",
        "/projects/x",
        "/projects/x/runs",
        "/projects/x/models/m",
        "/lineage/projects/x",
    ):
        assert http.post(path).status_code == 405
