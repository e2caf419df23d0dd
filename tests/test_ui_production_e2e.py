"""The production pages over HTTP against a real server with generated data (see
tests/ui_production_support.py): a model's metrics over time by version and the same
figures from ``client.production_metrics`` for the page's window, the breakdown by an
attribute, the deployments and a deployment's split and history, the time controls,
bad parameters (400 naming them) and unknown resources (404), never a Traceback."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from html import unescape
from typing import Any

import pytest

import modelreg
from modelreg_ui.charts import epoch, points_of
from modelreg_ui.pages.production_view import MAX_BARS, MAX_VALUES
from tests.ui_production_support import (
    COVERAGE,
    RECORDS,
    SPLITS,
    USERS,
    ProdData,
    build,
    charts,
    series,
    window_of,
)


@pytest.fixture(scope="module")
def data(target: str) -> Iterator[ProdData]:
    with modelreg.Client(target, actor="tester") as client:
        yield build(client)


def _page(http: Any, url: str, **params: Any) -> str:
    response = http.get(url, params=params)
    assert response.status_code == 200, response.text[:2000]
    assert "Traceback" not in response.text
    return str(response.text)


def _model_url(data: ProdData, model: str | None = None) -> str:
    return f"/projects/{data.project}/models/{model or data.model}/production"


def _deployment_url(data: ProdData) -> str:
    return f"/projects/{data.project}/deployments/{data.deployment}"


def _count(cells: str) -> int:
    found = re.search(r'class="num count">(\d+)<', cells)
    assert found, cells
    return int(found.group(1))


def _check_series(html: str, report: modelreg.ProductionMetricsReport, ids: set[str]) -> None:
    """The page's charts against the report (by version, hourly or daily) of its window."""
    specs = charts(html)
    assert set(specs) >= ids
    by_version: dict[int, list[modelreg.ProductionMetrics]] = {}
    for row in report.rows:
        by_version.setdefault(row.version, []).append(row)
    labels = {f"v{v}" for v in by_version}
    getters = {
        "accuracy": lambda r: r.accuracy,
        "mae": lambda r: r.mae,
        "coverage": lambda r: r.feedback_coverage,
        "latency_p50": lambda r: r.latency_p50_ms,
        "latency_p95": lambda r: r.latency_p95_ms,
    }
    for name in ids - {"requests"}:
        spec = specs[name]
        assert spec["time"] is True and spec["kind"] == "line"
        got = series(spec)
        assert set(got) == labels, name
        for v, rows in by_version.items():
            want = {
                epoch(r.bucket_start): getters[name](r)
                for r in rows
                if getters[name](r) is not None
            }
            assert set(got[f"v{v}"]) == set(want), (name, v)
            for x, y in want.items():
                assert got[f"v{v}"][x] == pytest.approx(y), (name, v, x)
        assert points_of(spec) == sum(getters[name](r) is not None for r in report.rows), name
    # Requests: a point in every bucket of the window for every version, 0 where none.
    spec = specs["requests"]
    got = series(spec)
    assert set(got) == labels
    buckets = len(spec["x"])
    assert points_of(spec) == buckets * len(labels)
    for v, rows in by_version.items():
        counts = {epoch(r.bucket_start): r.count for r in rows}
        assert {x: y for x, y in got[f"v{v}"].items() if y} == counts
    assert sum(sum(s.values()) for s in got.values()) == sum(r.count for r in report.rows)


def test_model_page_charts_by_version_match_the_api(
    http: Any, data: ProdData, sync_client: modelreg.Client
) -> None:
    html = _page(http, _model_url(data))
    start, end, bucket = window_of(html)
    assert bucket == "hour" and end - start >= timedelta(hours=24)
    report = sync_client.production_metrics(
        data.project, data.model, since=start, until=end, by="version", bucket="hour"
    )
    assert (report.start_time, report.end_time) == (start, end)
    assert {r.version for r in report.rows} == {1, 2, 3}
    ids = {"requests", "accuracy", "coverage", "latency_p50", "latency_p95"}
    _check_series(html, report, ids)
    assert "chart-mae" not in html  # labels: accuracy, no error
    # 24 or 25 hourly buckets in the default window of a day.
    assert len(charts(html)["requests"]["x"]) == (end - start) // timedelta(hours=1)


def test_model_page_totals_and_versions_match_the_generated_data(
    http: Any, data: ProdData, sync_client: modelreg.Client
) -> None:
    html = _page(http, _model_url(data))
    assert re.search(rf'id="total-requests">{RECORDS}<', html)
    counts = Counter(r.version for r in data.records)
    for version, n in counts.items():
        row = re.search(rf'<tr data-version="{version}">.*?</tr>', html, re.S)
        assert row, version
        assert f'<td class="num count">{n}</td>' in row.group(0)
        assert f"/projects/{data.project}/models/{data.model}/versions/{version}" in row.group(0)
    covered = sum(r.feedback for r in data.records) / len(data.records)
    assert covered == pytest.approx(COVERAGE)
    assert f"{covered * 100:.1f}%" in html  # the coverage card


def test_breakdown_by_an_attribute_has_a_row_per_value_and_version(
    http: Any, data: ProdData, sync_client: modelreg.Client
) -> None:
    html = _page(http, _model_url(data), attribute="country")
    start, end, _ = window_of(html)
    table = re.search(
        r'<table class="grid" id="breakdown" data-attribute="country">.*?</table>', html, re.S
    )
    assert table
    rows = re.findall(
        r'<tr class="(value|per-version)" data-value="([^"]*)" data-version="(\d+)">(.*?)</tr>',
        table.group(0),
        re.S,
    )
    got = {(value, int(v)): _count(cells) for _, value, v, cells in rows}
    want: Counter[tuple[str, int]] = Counter()
    for r in data.records:
        want[(r.country, 0)] += 1
        want[(r.country, r.version)] += 1
    assert got == dict(want)
    # The values' rows, most requests first, each followed by its versions.
    totals = [(value, got[(value, 0)]) for kind, value, _, _ in rows if kind == "value"]
    assert [n for _, n in totals] == sorted((n for _, n in totals), reverse=True)
    assert {value for value, _ in totals} == {"kr", "us", "de", ""}
    # The same figures as the API's for the window.
    report = sync_client.production_metrics(
        data.project, data.model, since=start, until=end, by=["version", "country"]
    )
    assert {(r.attribute_value, r.version): r.count for r in report.rows} == {
        k: n for k, n in got.items() if k[1]
    }
    # The select offers the attribute names seen.
    select = re.search(r'<select name="attribute" id="attribute">.*?</select>', html, re.S)
    assert select
    assert '<option value="country" selected>' in select.group(0)
    assert '<option value="tier">' in select.group(0)
    bars = charts(html)["breakdown"]
    assert points_of(bars) == sum(1 for k in got if k[1])


def test_breakdown_defaults_to_the_first_attribute_seen_and_can_be_turned_off(
    http: Any, data: ProdData
) -> None:
    html = _page(http, _model_url(data))
    assert 'data-attribute="country"' in html
    tier = _page(http, _model_url(data), attribute="tier")
    assert re.search(r'data-value="free" data-version="0"', tier)
    none = _page(http, _model_url(data), attribute="")
    assert 'id="breakdown"' not in none and "chart-breakdown" not in none


def test_breakdown_shows_the_values_with_most_requests(http: Any, data: ProdData) -> None:
    html = _page(http, _model_url(data), attribute="user")
    values = re.findall(r'<tr class="value" data-value="(u\d+)" data-version="0">', html)
    assert len(values) == MAX_VALUES and len(set(values)) == MAX_VALUES
    per_user = Counter(f"u{i % USERS}" for i in range(RECORDS))
    least_shown = min(per_user[v] for v in values)
    assert all(per_user[v] <= least_shown for v in set(per_user) - set(values))
    assert f"{USERS - MAX_VALUES} more values with fewer requests not shown." in html
    bars = charts(html)["breakdown"]
    assert len(bars["x_labels"]) == MAX_BARS and bars["x_labels"] == values[:MAX_BARS]


def test_model_page_lists_the_deployments_with_their_splits(http: Any, data: ProdData) -> None:
    html = _page(http, _model_url(data))
    row = re.search(r'<tr data-deployment="prod">.*?</tr>', html, re.S)
    assert row
    assert f'href="/projects/{data.project}/deployments/prod"' in row.group(0)
    assert 'aria-label="v2 70%, v3 30%"' in row.group(0)
    assert "production" in row.group(0) and "ACTIVE" in row.group(0)
    # In the same window.
    week = _page(http, _model_url(data), window="7d")
    assert f'href="/projects/{data.project}/deployments/prod?window=7d"' in week


def test_deployment_page_split_history_and_its_traffic(
    http: Any, data: ProdData, sync_client: modelreg.Client
) -> None:
    html = _page(http, _deployment_url(data))
    split = re.search(r'<table class="grid" id="split">.*?</table>', html, re.S)
    assert split
    assert re.findall(r'<tr data-version="(\d+)">.*?(\d+)%</td></tr>', split.group(0), re.S) == [
        ("2", "70"),
        ("3", "30"),
    ]
    # The bar: v2 and v3 in the colours of their series (the charts have v1, v2, v3).
    assert '<span class="c1" style="width: 70%"' in html
    assert '<span class="c2" style="width: 30%"' in html
    # History: every change, newest first, with who, why and what changed.
    entries = re.findall(r'<li data-sequence="(\d+)" data-kind="(\w+)">(.*?)</li>', html, re.S)
    assert [kind for _, kind, _ in entries] == ["TRAFFIC", "TRAFFIC", "TRAFFIC", "CREATE"]
    sequences = [int(s) for s, _, _ in entries]
    assert sequences == sorted(sequences, reverse=True)
    for (_, _, text), (traffic, why) in zip(entries, reversed(SPLITS), strict=True):
        text = unescape(text)
        assert why in text and "tester" in text
        assert ", ".join(f"v{v} {p}%" for v, p in sorted(traffic.items())) in text
    assert "v1 50% → 0%" in unescape(entries[0][2]) and "v3 0% → 30%" in unescape(entries[0][2])
    # The traffic it served: its records only, by version, with the split now.
    start, end, _ = window_of(html)
    report = sync_client.production_metrics(
        data.project,
        data.model,
        deployment=data.deployment,
        since=start,
        until=end,
        by="version",
        bucket="hour",
    )
    assert sum(r.count for r in report.rows) == sum(r.deployed for r in data.records)
    _check_series(html, report, {"requests", "accuracy", "coverage", "latency_p50", "latency_p95"})
    assert re.search(rf'id="total-requests">{sum(r.deployed for r in data.records)}<', html)
    versions = re.search(r'<table class="grid" id="versions">.*?</table>', html, re.S)
    assert versions and '<td class="num">70%</td>' in versions.group(0)


def test_regression_model_charts_its_error(
    http: Any, data: ProdData, sync_client: modelreg.Client
) -> None:
    html = _page(http, _model_url(data, data.regression))
    start, end, _ = window_of(html)
    report = sync_client.production_metrics(
        data.project, data.regression, since=start, until=end, by="version", bucket="hour"
    )
    _check_series(html, report, {"requests", "mae", "coverage", "latency_p50", "latency_p95"})
    assert "chart-accuracy" not in html
    # No attribute on these records: a text input for one.
    assert '<input name="attribute" id="attribute"' in html


def test_windows_and_buckets(http: Any, data: ProdData, sync_client: modelreg.Client) -> None:
    week = _page(http, _model_url(data), window="7d", bucket="day")
    start, end, bucket = window_of(week)
    assert bucket == "day" and end - start >= timedelta(days=7)
    report = sync_client.production_metrics(
        data.project, data.model, since=start, until=end, by="version", bucket="day"
    )
    _check_series(week, report, {"requests", "accuracy", "coverage"})
    assert len(charts(week)["requests"]["x"]) in (8, 9)  # the days the window touches
    # 30 days are daily by default, 7 days hourly.
    assert window_of(_page(http, _model_url(data), window="30d"))[2] == "day"
    assert window_of(_page(http, _model_url(data), window="7d"))[2] == "hour"
    hour = _page(http, _model_url(data), window="1h")
    start, end, _ = window_of(hour)
    assert timedelta(hours=1) <= end - start <= timedelta(hours=2)
    recent = sum(r.event_time >= start for r in data.records)
    assert re.search(rf'id="total-requests">{recent}<', hour)
    # An explicit start and end, rounded to whole hours by the API.
    top = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    t0 = top - timedelta(hours=5, minutes=30)
    t1 = t0 + timedelta(hours=3, minutes=10)  # never on the hour
    explicit = _page(
        http, _deployment_url(data), start=t0.isoformat(), end=t1.strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    start, end, bucket = window_of(explicit)
    assert start == t0.replace(minute=0, second=0, microsecond=0)
    assert end == t1.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    assert bucket == "hour"
    inside = sum(r.deployed and start <= r.event_time < end for r in data.records)
    assert re.search(rf'id="total-requests">{inside}<', explicit)
    assert f'value="{t0.isoformat()}"' in unescape(explicit)  # the form keeps it
    # The window links keep the other params.
    assert re.search(
        r'href="[^"]*\?[^"]*attribute=tier[^"]*window=7d',
        unescape(_page(http, _model_url(data), attribute="tier")),
    )


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"window": "2h"}, "window"),
        ({"bucket": "minute"}, "bucket"),
        ({"start": "2026-01-01T00:00Z", "end": "2026-03-01T00:00Z", "bucket": "hour"}, "bucket"),
        ({"start": "yesterday"}, "start"),
        ({"end": "2026-13-01"}, "end"),
        ({"start": "2026-01-02T00:00Z", "end": "2026-01-01T00:00Z"}, "start"),
        ({"attribute": "no spaces"}, "attribute"),
        ({"start": "1900-01-01T00:00Z"}, "start"),
        ({"end": "0001-01-01T00:00Z"}, "end"),
        ({"end": "9999-12-31T23:59Z", "window": "7d"}, "end"),
    ],
)
def test_bad_params_are_400_naming_them(
    http: Any, data: ProdData, params: dict[str, str], name: str
) -> None:
    for url in (_model_url(data), _deployment_url(data)):
        response = http.get(url, params=params)
        assert response.status_code == 400, (url, params)
        assert f"<code>{name}</code>" in response.text
        assert "Traceback" not in response.text


def test_unknown_model_deployment_or_project_is_404(http: Any, data: ProdData) -> None:
    for url in (
        _model_url(data, "nosuchmodel"),
        f"/projects/{data.project}/deployments/nosuch",
        "/projects/nosuchproject_x/models/m/production",
        "/projects/nosuchproject_x/deployments/prod",
    ):
        response = http.get(url)
        assert response.status_code == 404, url
        assert "NOT_FOUND" in response.text
        assert "Traceback" not in response.text


def test_a_model_without_records_or_deployments(
    http: Any, data: ProdData, sync_client: modelreg.Client
) -> None:
    sync_client.register_model_version(data.project, "idle", artifact_uri="s3://b/idle.pt")
    html = _page(http, _model_url(data, "idle"))
    assert "No inference records in this window." in html
    assert "No deployment serves this model." in html
    assert all(points_of(spec) == 0 for spec in charts(html).values())


def test_an_api_refusal_is_shown_cleanly(http: Any, data: ProdData) -> None:
    for url in (
        f"/projects/{data.project}/deployments/Not%20an%20id",
        f"/projects/{data.project}/models/Not%20an%20id/production",
    ):
        response = http.get(url)
        assert response.status_code == 400, (url, response.text[:1000])
        assert "INVALID_ARGUMENT" in response.text
        assert "Traceback" not in response.text
