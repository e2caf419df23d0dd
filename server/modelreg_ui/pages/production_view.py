"""What the production pages show, built from the API's answers: the time range of
the query string, charts over time by version, the breakdown by one attribute, the
traffic split and its history. Pure functions of SDK types: the handlers in
production.py make the calls."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from starlette.requests import Request

import modelreg
from modelreg_ui.charts import Point, bar_chart, epoch, line_chart
from modelreg_ui.web import BadParam

WINDOWS = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
DEFAULT_WINDOW = "24h"
BUCKETS = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
# Hourly buckets up to this span by default (and at most this span when asked for).
HOURLY_UP_TO = timedelta(days=7)
MAX_HOURLY = timedelta(days=31)
# A chart's buckets stay a few hundred (and past records' retention, nothing is left).
MAX_SPAN = timedelta(days=400)
# Times before this are mistakes (and a window before the year 1 cannot be computed).
EARLIEST = datetime(1970, 1, 2, tzinfo=timezone.utc)
# Records are at most a day ahead of the server's clock.
AHEAD = timedelta(days=1)
# An attribute name as the API stores them.
ATTRIBUTE = re.compile(r"[A-Za-z0-9_.-]{1,63}")
# Values of the breakdown shown (most requests first), and drawn as bars.
MAX_VALUES = 50
MAX_BARS = 12
# Records read for the attribute names a select offers.
SAMPLE_RECORDS = 200


@dataclass(frozen=True)
class TimeRange:
    """The window of the page: ``window`` (a name of WINDOWS, "" when the URL gives a
    start), ``start``/``end`` as asked (the API rounds them to whole hours), ``bucket``."""

    window: str
    start: datetime
    end: datetime
    bucket: str
    start_param: str
    end_param: str


def _time_param(request: Request, name: str) -> datetime | None:
    raw = request.query_params.get(name, "").strip()
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise BadParam(
            name, f"must be an ISO 8601 time such as 2026-01-31T09:00Z, not {raw!r}"
        ) from None
    value = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if value < EARLIEST:
        raise BadParam(name, f"must be after {EARLIEST:%Y-%m-%d}, not {raw!r}")
    return value


def time_range(request: Request, now: datetime) -> TimeRange:
    """``window=1h|24h|7d|30d`` (24h by default) ending now, or ``start`` (and
    ``end``, now by default) as ISO 8601 times; ``bucket=hour|day`` (hourly up to 7
    days, else daily)."""
    window = request.query_params.get("window", "") or DEFAULT_WINDOW
    if window not in WINDOWS:
        raise BadParam("window", f"must be one of {', '.join(WINDOWS)}, not {window!r}")
    start, end = _time_param(request, "start"), _time_param(request, "end")
    end = end or now
    if end > now + AHEAD:
        raise BadParam("end", "must be at most a day from now (no record is later)")
    if start is None:
        start = end - WINDOWS[window]
    else:
        window = ""
    if start >= end:
        raise BadParam("start", "must be before end")
    if end - start > MAX_SPAN:
        raise BadParam("start", f"a window spans at most {MAX_SPAN.days} days")
    bucket = request.query_params.get("bucket", "")
    if bucket and bucket not in BUCKETS:
        raise BadParam("bucket", f"must be hour or day, not {bucket!r}")
    if not bucket:
        bucket = "hour" if end - start <= HOURLY_UP_TO else "day"
    if bucket == "hour" and end - start > MAX_HOURLY:
        raise BadParam("bucket", "hourly buckets cover at most 31 days: use bucket=day")
    return TimeRange(
        window,
        start,
        end,
        bucket,
        request.query_params.get("start", ""),
        request.query_params.get("end", ""),
    )


def attribute_param(request: Request) -> str | None:
    """``attribute``: None when absent (the page picks one), "" for no breakdown."""
    if "attribute" not in request.query_params:
        return None
    raw = request.query_params["attribute"].strip()
    if raw and not ATTRIBUTE.fullmatch(raw):
        raise BadParam("attribute", "must be 1-63 characters of A-Z a-z 0-9 _ . -")
    return raw


def attributes_seen(records: Iterable[modelreg.InferenceRecord]) -> list[str]:
    return sorted({key for r in records for key in r.attributes})


def bucket_starts(report: modelreg.ProductionMetricsReport, bucket: str) -> list[datetime]:
    """Every bucket of the report's window, as the API starts them (days at 00:00 UTC)."""
    start = report.start_time
    if bucket == "day":
        start = start.replace(hour=0, minute=0, second=0, microsecond=0)
    out = []
    while start < report.end_time:
        out.append(start)
        start += BUCKETS[bucket]
    return out


@dataclass(frozen=True)
class Scores:
    """Which scores the records of the window have: accuracy (labels) or error (numbers)."""

    accuracy: bool
    error: bool

    @property
    def any(self) -> bool:
        return self.accuracy or self.error


def scores_of(rows: Iterable[modelreg.ProductionMetrics]) -> Scores:
    rows = list(rows)
    return Scores(
        accuracy=any(r.labeled_count for r in rows), error=any(r.valued_count for r in rows)
    )


@dataclass(frozen=True)
class Chart:
    id: str
    spec: dict[str, Any]


Getter = Callable[[modelreg.ProductionMetrics], float | None]


def _by_version(
    rows: Iterable[modelreg.ProductionMetrics],
) -> dict[int, list[modelreg.ProductionMetrics]]:
    out: dict[int, list[modelreg.ProductionMetrics]] = {}
    for row in sorted(rows, key=lambda r: (r.version, r.bucket_start)):
        out.setdefault(row.version, []).append(row)
    return out


def version_label(version: int) -> str:
    return f"v{version}"


def series_charts(report: modelreg.ProductionMetricsReport, bucket: str) -> list[Chart]:
    """Charts over time of a report grouped by version and bucket: one series per
    version. Requests are 0 in the window's buckets a version has no row for; the
    other metrics have a point where the API gives a value."""
    versions = _by_version(report.rows)
    scores = scores_of(report.rows)
    buckets = [epoch(b) for b in bucket_starts(report, bucket)]

    def chart(id: str, title: str, get: Getter, y_label: str) -> Chart:
        # Every bucket of the window is an x (null where a version has no value), so
        # every chart of the page spans the same time.
        series: dict[str, list[Point]] = {}
        for v, rows in versions.items():
            got = {epoch(r.bucket_start): get(r) for r in rows}
            series[version_label(v)] = [(x, got.get(x)) for x in sorted({*buckets, *got})]
        return Chart(id, line_chart(title, series, time=True, y_label=y_label))

    counts: dict[str, list[Point]] = {}
    for v, rows in versions.items():
        got = {epoch(r.bucket_start): float(r.count) for r in rows}
        counts[version_label(v)] = [(x, got.get(x, 0.0)) for x in sorted({*buckets, *got})]
    charts = [Chart("requests", line_chart("Requests", counts, time=True, y_label="requests"))]
    if scores.accuracy:
        charts.append(chart("accuracy", "Accuracy", lambda r: r.accuracy, "accuracy"))
    if scores.error:
        charts.append(chart("mae", "Error (MAE)", lambda r: r.mae, "mean absolute error"))
    charts += [
        chart(
            "coverage",
            "Feedback coverage",
            lambda r: r.feedback_coverage,
            "share with ground truth",
        ),
        chart("latency_p50", "Latency p50", lambda r: r.latency_p50_ms, "ms"),
        chart("latency_p95", "Latency p95", lambda r: r.latency_p95_ms, "ms"),
    ]
    return charts


@dataclass(frozen=True)
class BreakdownRow:
    """One value of the attribute ("" for records without it): every version
    (``version`` 0) or one version; ``share`` of the window's requests."""

    value: str
    version: int
    metrics: modelreg.ProductionMetrics
    share: float


def breakdown(
    totals: modelreg.ProductionMetricsReport,
    per_version: modelreg.ProductionMetricsReport,
    limit: int = MAX_VALUES,
) -> tuple[list[BreakdownRow], int]:
    """The ``limit`` values with most requests, most first, each followed by its
    versions' rows; and how many values are left out."""
    requests = sum(r.count for r in totals.rows) or 1
    versions: dict[str, list[modelreg.ProductionMetrics]] = {}
    for row in sorted(per_version.rows, key=lambda r: r.version):
        versions.setdefault(row.attribute_value, []).append(row)
    ranked = sorted(totals.rows, key=lambda r: (-r.count, r.attribute_value))
    out = []
    for total in ranked[:limit]:
        value = total.attribute_value
        out.append(BreakdownRow(value, 0, total, total.count / requests))
        out += [
            BreakdownRow(value, r.version, r, r.count / requests) for r in versions.get(value, [])
        ]
    return out, max(0, len(ranked) - limit)


def breakdown_chart(rows: Sequence[BreakdownRow], limit: int = MAX_BARS) -> Chart:
    """Requests per value (the ``limit`` first values of the rows), a bar per version."""
    every = [r.value for r in rows if r.version == 0]
    values = every[:limit]
    shown = set(values)
    versions = sorted({r.version for r in rows if r.version and r.value in shown})
    counts = {(r.value, r.version): float(r.metrics.count) for r in rows if r.version}
    series = {version_label(v): [counts.get((value, v)) for value in values] for v in versions}
    labels = [v or "(none)" for v in values]
    title = "Requests by value" + (f" (the {limit} first)" if len(every) > limit else "")
    return Chart("breakdown", bar_chart(title, labels, series, y_label="requests"))


@dataclass(frozen=True)
class SplitPart:
    version: int
    percent: int
    color: int  # its colour: the place of its series in charts.js's palette


def split(traffic: Mapping[int, int], charted: Sequence[int] = ()) -> list[SplitPart]:
    """The parts of a split, coloured as the charts colour their series: by the
    version's place among the ``charted`` versions (then after them)."""
    order = list(charted) + sorted(v for v in traffic if v not in charted)
    return [SplitPart(v, p, order.index(v) % 10) for v, p in sorted(traffic.items())]


def split_text(traffic: Mapping[int, int]) -> str:
    return ", ".join(f"v{v} {p}%" for v, p in sorted(traffic.items()))


@dataclass(frozen=True)
class HistoryEntry:
    """One change of a deployment and what it changed from the one before it."""

    event: modelreg.DeploymentEvent
    changes: list[str]


def history(events: Sequence[modelreg.DeploymentEvent]) -> list[HistoryEntry]:
    """The events as the API gives them (newest first), each with its changes."""
    out: list[HistoryEntry] = []
    before: modelreg.DeploymentEvent | None = None
    for event in sorted(events, key=lambda e: e.sequence):
        out.append(HistoryEntry(event, _changes(before, event)))
        before = event
    out.reverse()
    return out


def _changes(before: modelreg.DeploymentEvent | None, after: modelreg.DeploymentEvent) -> list[str]:
    if before is None:
        return ["deployed"]
    changes = []
    for v in sorted({*before.traffic, *after.traffic}):
        was, now = before.traffic.get(v, 0), after.traffic.get(v, 0)
        if was != now:
            changes.append(f"v{v} {was}% → {now}%")
    if before.state != after.state:
        changes.append(f"state {before.state.value} → {after.state.value}")
    if before.environment != after.environment:
        changes.append(f"environment {before.environment or '-'} → {after.environment or '-'}")
    return changes
