"""The ``modelreg prod`` commands: production metrics and inference records.

modelreg prod metrics translate_kr2en translate_kr2en --deployment prod --by version
modelreg prod metrics translate_kr2en translate_kr2en --since 7d --bucket day --by country
modelreg prod records translate_kr2en translate_kr2en --request-id req-123
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from modelreg import _cli_format as fmt
from modelreg._inference_types import InferenceRecord, ProductionMetrics, ProductionMetricsReport
from modelreg._sync import Client

Cmd = Callable[..., argparse.ArgumentParser]
_AGO = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def time_arg(text: str) -> datetime:
    """``24h``, ``7d``, ``30m`` (that long ago) or an ISO 8601 time (UTC if no zone)."""
    match = _AGO.match(text.strip())
    if match:
        ago = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
        return datetime.now(timezone.utc) - ago
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected e.g. 24h, 7d or 2026-01-31T12:00:00Z, got {text!r}"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _number(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def metrics_table(report: ProductionMetricsReport, args: argparse.Namespace) -> str:
    """The metrics rows, with the grouping columns that apply."""
    columns: list[fmt.Column] = []
    if args.bucket:
        columns.append(("BUCKET", lambda r: fmt.when(r.bucket_start)))
    if args.by == "version":
        columns.append(("VERSION", lambda r: str(r.version)))
        if args.deployment:
            columns.append(("TRAFFIC", lambda r: f"{r.traffic_percent}%"))
    elif args.by:
        columns.append((args.by.upper(), lambda r: r.attribute_value or "-"))
    row_columns: list[tuple[str, Callable[[ProductionMetrics], str]]] = [
        ("COUNT", lambda r: str(r.count)),
        ("FEEDBACK", lambda r: _percent(r.feedback_coverage if r.count else None)),
        ("ACCURACY", lambda r: _percent(r.accuracy)),
        ("MAE", lambda r: _number(r.mae)),
        ("RMSE", lambda r: _number(r.rmse)),
        ("P50_MS", lambda r: _number(r.latency_p50_ms)),
        ("P95_MS", lambda r: _number(r.latency_p95_ms)),
        ("P99_MS", lambda r: _number(r.latency_p99_ms)),
    ]
    columns += row_columns
    window = f"window: {fmt.when(report.start_time)} .. {fmt.when(report.end_time)}"
    if not report.rows:
        return f"{window}\nno records"
    return f"{window}\n{fmt.table(list(report.rows), columns)}"


RECORD_COLUMNS: list[fmt.Column] = [
    ("EVENT_TIME", lambda r: fmt.when(r.event_time)),
    ("RECORD_ID", lambda r: r.record_id),
    ("VERSION", lambda r: str(r.version)),
    ("DEPLOYMENT", lambda r: r.deployment or "-"),
    ("REQUEST_ID", lambda r: r.request_id or "-"),
    ("PREDICTION", lambda r: fmt.scalar(r.prediction)),
    ("TRUTH", lambda r: "-" if r.feedback is None else fmt.scalar(r.feedback.ground_truth)),
    ("LATENCY_MS", lambda r: _number(r.latency_ms)),
    ("ATTRIBUTES", lambda r: fmt.pairs(r.attributes)),
]


def _prod_metrics(c: Client, a: argparse.Namespace) -> ProductionMetricsReport:
    return c.production_metrics(
        a.project,
        a.model,
        version=a.version,
        deployment=a.deployment,
        since=a.since,
        until=a.until,
        by=a.by,
        bucket=a.bucket,
    )


def _prod_records(c: Client, a: argparse.Namespace) -> list[InferenceRecord]:
    records = c.list_inference_records(
        a.project,
        a.model,
        version=a.version,
        deployment=a.deployment,
        since=a.since,
        until=a.until,
        request_id=a.request_id,
        attributes=dict(a.attribute or ()),
        page_size=min(a.limit, 1000),
    )
    out: list[InferenceRecord] = []
    for record in records:
        out.append(record)
        if len(out) >= a.limit:
            break
    return out


def _filters(p: argparse.ArgumentParser) -> None:
    add = p.add_argument
    add("--deployment", help="only this deployment's records")
    add("--version", type=int, help="only this version's records")
    add(
        "--since",
        type=time_arg,
        help="from this time: 24h, 7d or an ISO time (metrics: default 7d before --until; "
        "records: no lower bound)",
    )
    add("--until", type=time_arg, help="until this time (default: now)")


def add_groups(group: Callable[[str, str], Any], cmd: Cmd) -> None:
    """The ``prod`` group."""
    sub = group("prod", "production tracking: metrics per version and inference records")
    p = cmd(
        sub,
        "metrics",
        "count, feedback coverage, accuracy, MAE, RMSE and latency percentiles",
        _prod_metrics,
        "project model",
    )
    _filters(p)
    p.add_argument("--by", help="one row per version ('version') or per value of an attribute")
    p.add_argument("--bucket", choices=("hour", "day"), help="one row per hour or day")
    p.set_defaults(render=metrics_table)
    p = cmd(
        sub,
        "records",
        "a model's inference records, newest first",
        _prod_records,
        "project model",
        RECORD_COLUMNS,
    )
    _filters(p)
    p.add_argument("--request-id", help="only the records of this request")
    p.add_argument("--attribute", action="append", type=fmt.key_value, metavar="K=V", help="repeat")
    p.add_argument("--limit", type=int, default=100, help="records at most (default: 100)")
