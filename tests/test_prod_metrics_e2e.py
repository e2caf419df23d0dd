"""Production metrics end to end (GetProductionMetrics): generated records of two
versions under a 50/50 deployment split, ground truth for 30% of them (some of it
overwritten), and the metrics by version, deployment and attribute, per hour and
per day, against the same figures computed here from the generated data."""

from __future__ import annotations

import json
import math
import random
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import grpc
import pytest

import modelreg
from modelreg.api.v1 import production_service_pb2 as rpc
from modelreg.api.v1 import resources_pb2 as pb
from tests.conftest import unique
from tests.inference_support import create_deployment, now, prod, record, ts, write
from tests.support import ACTOR, register, sql

__all__ = ["prod"]  # fixtures

COUNTRIES = ("kr", "us", "de")
LABELS = ("cat", "dog", "eel")
Request = rpc.GetProductionMetricsRequest


@dataclass
class Rec:
    version: int
    deployed: bool
    event_time: datetime
    country: str | None
    predicted_value: float | None
    predicted_label: str | None
    latency_ms: float | None
    true_value: float | None = None
    true_label: str | None = None
    has_feedback: bool = False


def _hour(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def _day(t: datetime) -> datetime:
    return t.replace(hour=0, minute=0, second=0, microsecond=0)


def expected(recs: Iterable[Rec]) -> dict[str, Any]:
    recs = list(recs)
    fb = [r for r in recs if r.has_feedback]
    labeled = [r for r in fb if r.predicted_label is not None and r.true_label is not None]
    valued = [r for r in fb if r.predicted_value is not None and r.true_value is not None]
    lat = sorted(r.latency_ms for r in recs if r.latency_ms is not None)
    errs = [r.predicted_value - r.true_value for r in valued]  # type: ignore[operator]

    def pct(q: float) -> float | None:
        return lat[math.floor(q * (len(lat) - 1))] if lat else None

    return {
        "count": len(recs),
        "feedback_count": len(fb),
        "feedback_coverage": len(fb) / len(recs),
        "labeled_count": len(labeled),
        "accuracy": (
            sum(r.predicted_label == r.true_label for r in labeled) / len(labeled)
            if labeled
            else None
        ),
        "valued_count": len(valued),
        "mae": sum(abs(e) for e in errs) / len(errs) if errs else None,
        "rmse": math.sqrt(sum(e * e for e in errs) / len(errs)) if errs else None,
        "latency_count": len(lat),
        "latency_mean_ms": sum(lat) / len(lat) if lat else None,
        "p50": pct(0.5),
        "p95": pct(0.95),
        "p99": pct(0.99),
    }


def check_row(row: rpc.ProductionMetrics, want: dict[str, Any]) -> None:
    for name in ("count", "feedback_count", "labeled_count", "valued_count", "latency_count"):
        assert getattr(row, name) == want[name], name
    assert row.feedback_coverage == pytest.approx(want["feedback_coverage"])
    for name in ("accuracy", "mae", "rmse", "latency_mean_ms"):
        if want[name] is None:
            assert not row.HasField(name), name
        else:
            assert getattr(row, name) == pytest.approx(want[name], rel=1e-9, abs=1e-9), name
    for q in ("p50", "p95", "p99"):
        field = f"latency_{q}_ms"
        if want[q] is None:
            assert not row.HasField(field)
        else:
            # within 1% of the exact element (a hair more for float rounding)
            assert getattr(row, field) == pytest.approx(want[q], rel=0.0100001, abs=1e-12), q


@pytest.fixture(scope="module")
def generated(target: str, database_url: str) -> tuple[str, str, list[Rec], datetime, datetime]:
    """Records of two versions, 80% under deployment `prod` (50/50), over three
    days; ground truth for 30%."""
    rng = random.Random(8)
    project, model = unique("proj"), unique("m")
    with modelreg.Client(target, actor="tester") as client:
        client.create_project(project)
        register(client, project, model, 2)
    create_deployment(database_url, project, model, "prod", [[1, 50], [2, 50]])
    end = _hour(now()) - timedelta(hours=1)
    start = end - timedelta(days=3)
    recs: list[Rec] = []
    protos: list[pb.InferenceRecord] = []
    for i in range(4000):
        version = rng.choice((1, 2))
        deployed = rng.random() < 0.8
        when = start + timedelta(seconds=rng.uniform(0, 3 * 86400 - 1))
        country = rng.choice((*COUNTRIES, None))
        shape = rng.random()
        pv = round(rng.gauss(10 * version, 3), 3) if i % 2 else None
        pl = rng.choice(LABELS) if i % 2 == 0 else None
        latency = None if shape < 0.05 else 0.0 if shape < 0.08 else rng.lognormvariate(2, 1)
        rec = Rec(version, deployed, when, country, pv, pl, latency)
        recs.append(rec)
        fields: dict[str, Any] = {"event_time": when, "request_id": f"req-{i}"}
        if deployed:
            fields["deployment"] = "prod"
        if country is not None:
            fields["attributes"] = {"country": country, "n": str(i % 7)}
        if pv is not None:
            fields["predicted_value"] = pv
        if pl is not None:
            fields["predicted_label"] = pl
        if latency is not None:
            fields["latency_ms"] = latency
        protos.append(record(model, version, **fields))
    with grpc.insecure_channel(target) as channel:
        from modelreg.api.v1 import production_service_pb2_grpc as rpc_grpc

        stub = rpc_grpc.ProductionServiceStub(channel)
        for k in range(0, len(protos), 1000):
            ack = write(stub, project, protos[k : k + 1000])
            assert ack.accepted == len(protos[k : k + 1000]), ack.errors
        items: list[pb.Feedback] = []
        chosen = rng.sample(range(len(recs)), int(0.3 * len(recs)))
        for n, i in enumerate(chosen):
            rec, proto = recs[i], protos[i]
            first: dict[str, Any] = {}
            if rec.predicted_value is not None:
                rec.true_value = round(rec.predicted_value + rng.gauss(0, 2), 3)
                first["true_value"] = rec.true_value + 100  # overwritten below
                last = {"true_value": rec.true_value}
            else:
                rec.true_label = rng.choice(LABELS)
                first["true_label"] = "wrong"
                last = {"true_label": rec.true_label}
            rec.has_feedback = True
            if n % 5 == 0:  # written twice: the rollups must keep only the last
                items.append(pb.Feedback(record_id=proto.record_id, **first))
            key = {"request_id": proto.request_id} if n % 2 else {"record_id": proto.record_id}
            items.append(pb.Feedback(**key, **last))
        done = stub.WriteFeedback(
            rpc.WriteFeedbackRequest(parent=f"projects/{project}", feedback=items),
            metadata=ACTOR,
            timeout=60,
        )
        assert done.matched == len(chosen) and not done.errors  # records, not items
    return project, model, recs, start, end


def _metrics(prod: Any, project: str, model: str, **fields: Any) -> Any:
    return prod.GetProductionMetrics(
        Request(parent=f"projects/{project}/models/{model}", **fields), timeout=30
    )


def _compare(
    response: Any,
    recs: list[Rec],
    key: Callable[[Rec], tuple[Any, ...]],
    row_key: Callable[[rpc.ProductionMetrics], tuple[Any, ...]],
) -> None:
    groups: dict[tuple[Any, ...], list[Rec]] = defaultdict(list)
    for r in recs:
        groups[key(r)].append(r)
    got = {row_key(row): row for row in response.rows}
    assert sorted(got) == sorted(groups)
    assert [row_key(row) for row in response.rows] == sorted(groups)  # ordered
    for k, members in groups.items():
        check_row(got[k], expected(members))


def _t(row: rpc.ProductionMetrics) -> datetime:
    return row.bucket_start.ToDatetime().replace(tzinfo=now().tzinfo)


def test_by_version_under_a_deployment_per_day(prod: Any, generated: Any) -> None:
    project, model, recs, start, end = generated
    response = _metrics(
        prod,
        project,
        model,
        deployment="prod",
        group_by_version=True,
        bucket=Request.BUCKET_DAY,
        start_time=ts(start + timedelta(minutes=10)),
        end_time=ts(end - timedelta(minutes=50)),
    )
    assert response.start_time.ToDatetime() == start.replace(tzinfo=None)
    assert response.end_time.ToDatetime() == end.replace(tzinfo=None)
    _compare(
        response,
        [r for r in recs if r.deployed],
        lambda r: (_day(r.event_time), r.version),
        lambda row: (_t(row), row.version),
    )
    assert {row.traffic_percent for row in response.rows} == {50}


def test_by_version_per_hour_and_for_the_window(prod: Any, generated: Any) -> None:
    project, model, recs, start, end = generated
    window = {"start_time": ts(start), "end_time": ts(end)}
    response = _metrics(
        prod, project, model, group_by_version=True, bucket=Request.BUCKET_HOUR, **window
    )
    _compare(
        response,
        recs,
        lambda r: (_hour(r.event_time), r.version),
        lambda row: (_t(row), row.version),
    )
    assert {row.traffic_percent for row in response.rows} == {0}  # no deployment given
    whole = _metrics(prod, project, model, **window)
    _compare(whole, recs, lambda r: (start,), lambda row: (_t(row),))
    one = _metrics(prod, project, model, version=2, **window)
    _compare(one, [r for r in recs if r.version == 2], lambda r: (start,), lambda row: (_t(row),))


def test_by_attribute_from_the_records(prod: Any, generated: Any) -> None:
    project, model, recs, start, end = generated
    window = {"start_time": ts(start), "end_time": ts(end)}
    response = _metrics(
        prod,
        project,
        model,
        group_by_attribute="country",
        group_by_version=True,
        bucket=Request.BUCKET_DAY,
        **window,
    )
    _compare(
        response,
        recs,
        lambda r: (_day(r.event_time), r.version, r.country or ""),
        lambda row: (_t(row), row.version, row.attribute_value),
    )
    deployed = _metrics(
        prod, project, model, deployment="prod", group_by_attribute="country", **window
    )
    _compare(
        deployed,
        [r for r in recs if r.deployed],
        lambda r: (start, r.country or ""),
        lambda row: (_t(row), row.attribute_value),
    )
    # Both paths agree on the same records.
    rolled = _metrics(prod, project, model, bucket=Request.BUCKET_HOUR, **window)
    raw = _metrics(
        prod, project, model, bucket=Request.BUCKET_HOUR, group_by_attribute="absent", **window
    )
    assert len(rolled.rows) == len(raw.rows)
    for a, b in zip(rolled.rows, raw.rows, strict=True):
        assert (a.count, a.latency_p99_ms, a.feedback_count) == (
            b.count,
            b.latency_p99_ms,
            b.feedback_count,
        )


def test_the_default_window_and_bad_requests(prod: Any, generated: Any) -> None:
    project, model, recs, _, _ = generated
    response = _metrics(prod, project, model)
    end = response.end_time.ToDatetime()
    assert end - response.start_time.ToDatetime() == timedelta(days=7)
    assert end.minute == end.second == 0
    assert response.rows[0].count == len(recs)

    def code(**fields: Any) -> grpc.StatusCode:
        with pytest.raises(grpc.RpcError) as err:
            _metrics(prod, project, model, **fields)
        return err.value.code()  # type: ignore[no-any-return]

    later = now() - timedelta(days=1)
    assert code(start_time=ts(later), end_time=ts(later - timedelta(hours=2))) == (
        grpc.StatusCode.INVALID_ARGUMENT
    )
    assert code(bucket=7) == grpc.StatusCode.INVALID_ARGUMENT
    assert code(deployment="nodep") == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as err:
        _metrics(prod, project, unique("nomodel"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_nothing_to_compute_leaves_metrics_unset(
    prod: Any, project: str, sync_client: modelreg.Client
) -> None:
    model = unique("m")
    register(sync_client, project, model)
    write(prod, project, [record(model, predicted_label="x")])
    (row,) = _metrics(prod, project, model).rows
    assert row.count == 1 and row.feedback_count == 0 and row.feedback_coverage == 0
    for name in ("accuracy", "mae", "rmse", "latency_p50_ms", "latency_mean_ms"):
        assert not row.HasField(name)


def test_a_window_cutting_days_reads_hours_at_its_edges(prod: Any, generated: Any) -> None:
    """Daily rollups stand for whole days only: where the window starts or ends
    inside a day with records outside it, that day's hours are read instead."""
    project, model, recs, start, end = generated
    lo, hi = start + timedelta(hours=30), end - timedelta(hours=20)
    inside = [r for r in recs if lo <= r.event_time < hi]
    window = {"start_time": ts(lo), "end_time": ts(hi)}
    by_day = _metrics(
        prod, project, model, group_by_version=True, bucket=Request.BUCKET_DAY, **window
    )
    _compare(
        by_day,
        inside,
        lambda r: (_day(r.event_time), r.version),
        lambda row: (_t(row), row.version),
    )
    whole = _metrics(prod, project, model, **window)
    _compare(whole, inside, lambda r: (lo,), lambda row: (_t(row),))
    narrow = {"start_time": ts(lo), "end_time": ts(lo + timedelta(hours=3))}
    few = [r for r in recs if lo <= r.event_time < lo + timedelta(hours=3)]
    _compare(_metrics(prod, project, model, **narrow), few, lambda r: (lo,), lambda row: (_t(row),))


def test_the_histogram_functions(database_url: str) -> None:
    def one(query: str) -> Any:
        return json.loads(sql(database_url, query)[0][0])

    assert one("""SELECT modelreg_hist_add('{"1": 2, "3": 4}', '{"3": -4, "5": 1}')""") == {
        "1": 2,
        "5": 1,
    }
    assert one("""SELECT modelreg_hist_add(NULL, '{"z": 1}')""") == {"z": 1}
    assert one("""SELECT modelreg_hist_add('{"z": 1}', NULL)""") == {"z": 1}
    assert one("""SELECT modelreg_hist_add('{}', '{}')""") == {}
    assert one(
        """SELECT modelreg_hist_sum(h) FROM (VALUES ('{"1": 1}'::jsonb), ('{"1": 2, "-3": 1}'),
        ('{}')) AS t(h)"""
    ) == {"1": 3, "-3": 1}
