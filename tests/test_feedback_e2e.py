"""Feedback end to end over gRPC (WriteFeedback): ground truth by record id and by
request id, the last write winning with its time, unmatched and bad items, and
the hourly rollups moved by the delta."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import grpc
import pytest

import modelreg
from modelreg.api.v1 import production_service_pb2 as rpc
from modelreg.api.v1 import resources_pb2 as pb
from tests.conftest import unique
from tests.inference_support import hour_ago, listed, prod, record, ts, write
from tests.support import ACTOR, register, sql

__all__ = ["prod"]  # fixtures


@pytest.fixture
def model(sync_client: modelreg.Client, project: str) -> str:
    name = unique("m")
    register(sync_client, project, name, 1)
    return name


def feedback(prod: Any, project: str, *items: pb.Feedback) -> Any:
    return prod.WriteFeedback(
        rpc.WriteFeedbackRequest(parent=f"projects/{project}", feedback=list(items)),
        metadata=ACTOR,
        timeout=30,
    )


def _rollup(database_url: str, model: str) -> dict[str, Any]:
    """The sums of the model's hourly rollups (which its daily ones must equal)."""
    sums = []
    for table in ("inference_rollups", "inference_daily_rollups"):
        row = sql(
            database_url,
            "SELECT sum(count) AS count, sum(feedback_count) AS feedback_count, "
            "sum(labeled_count) AS labeled_count, sum(correct_count) AS correct_count, "
            "sum(valued_count) AS valued_count, sum(abs_err_sum) AS abs_err_sum, "
            f"sum(sq_err_sum) AS sq_err_sum FROM {table} u "
            "JOIN models m ON m.id = u.model_id WHERE m.name = $1",
            model,
        )[0]
        sums.append({k: (float(v) if v is not None else None) for k, v in dict(row).items()})
    hourly, daily = sums
    assert daily == pytest.approx(hourly)
    return hourly


def _by_id(prod: Any, project: str, model: str) -> dict[str, pb.InferenceRecord]:
    return {r.record_id: r for r in listed(prod, project, model)}


def test_by_record_id_and_by_request_id(prod: Any, project: str, model: str) -> None:
    labeled = record(model, predicted_label="cat", request_id="req-1")
    twin = record(model, predicted_label="dog", request_id="req-1")
    valued = record(model, predicted_value=2.5)
    assert write(prod, project, [labeled, twin, valued]).accepted == 3
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    done = feedback(
        prod,
        project,
        pb.Feedback(request_id="req-1", true_label="cat"),
        pb.Feedback(record_id=valued.record_id.upper(), true_value=4.0, feedback_time=ts(when)),
    )
    assert (done.matched, list(done.errors)) == (3, [])
    got = _by_id(prod, project, model)
    assert got[labeled.record_id].feedback.true_label == "cat"
    assert got[twin.record_id].feedback.true_label == "cat"
    fb = got[valued.record_id].feedback
    assert fb.true_value == 4.0 and fb.feedback_time.ToDatetime(tzinfo=timezone.utc) == when
    assert fb.record_id == valued.record_id


def test_the_last_write_wins_and_keeps_its_time(
    prod: Any, project: str, model: str, database_url: str
) -> None:
    r = record(model, predicted_label="a", request_id="req-x")
    write(prod, project, [r])
    first, second = hour_ago(3), hour_ago(5)  # the later write has the earlier time
    feedback(
        prod, project, pb.Feedback(record_id=r.record_id, true_label="a", feedback_time=ts(first))
    )
    assert _rollup(database_url, model)["correct_count"] == 1
    feedback(
        prod, project, pb.Feedback(record_id=r.record_id, true_label="b", feedback_time=ts(second))
    )
    fb = _by_id(prod, project, model)[r.record_id].feedback
    assert fb.true_label == "b"
    assert fb.feedback_time.ToDatetime(tzinfo=timezone.utc) == second
    # Within one call, the later item wins too.
    done = feedback(
        prod,
        project,
        pb.Feedback(record_id=r.record_id, true_label="c"),
        pb.Feedback(request_id="req-x", true_label="a"),
    )
    assert done.matched == 1
    assert _by_id(prod, project, model)[r.record_id].feedback.true_label == "a"
    rollup = _rollup(database_url, model)
    assert (rollup["feedback_count"], rollup["labeled_count"], rollup["correct_count"]) == (
        1,
        1,
        1,
    )


def test_unmatched_and_bad_items_are_reported(prod: Any, project: str, model: str) -> None:
    r = record(model, predicted_value=1.0)
    write(prod, project, [r])
    missing = str(uuid.uuid4())
    done = feedback(
        prod,
        project,
        pb.Feedback(record_id=missing, true_value=1.0),
        pb.Feedback(request_id="nobody", true_value=1.0),
        pb.Feedback(record_id="nope", true_value=1.0),
        pb.Feedback(record_id=r.record_id),  # no ground truth
        pb.Feedback(true_value=1.0),  # no key
        pb.Feedback(record_id=r.record_id, true_value=float("nan")),
        pb.Feedback(record_id=r.record_id, true_label="\x00"),
        pb.Feedback(request_id="a\x00", true_value=1.0),
        # The calendar's last microsecond would be stored as infinity: no time reads it back.
        pb.Feedback(
            record_id=r.record_id,
            true_value=2.0,
            feedback_time={"seconds": 253_402_300_799, "nanos": 999_999_000},
        ),
        pb.Feedback(record_id=r.record_id, true_value=3.0),
    )
    assert done.matched == 1
    assert [(e.index, e.field, e.reason) for e in done.errors] == [
        (0, "feedback[0].record_id", "RECORD_NOT_FOUND"),
        (1, "feedback[1].request_id", "RECORD_NOT_FOUND"),
        (2, "feedback[2].record_id", "INVALID_UUID"),
        (3, "feedback[3].true_value", "INVALID_ARGUMENT"),
        (4, "feedback[4].record_id", "INVALID_ARGUMENT"),
        (5, "feedback[5].true_value", "INVALID_ARGUMENT"),
        (6, "feedback[6].true_label", "INVALID_ARGUMENT"),
        (7, "feedback[7].request_id", "INVALID_ARGUMENT"),
        (8, "feedback[8].feedback_time", "INVALID_ARGUMENT"),
    ]
    assert done.errors[0].record_id == missing
    assert _by_id(prod, project, model)[r.record_id].feedback.true_value == 3.0


def test_request_level_bad_input(prod: Any, project: str) -> None:
    with pytest.raises(grpc.RpcError) as err:
        feedback(prod, project, *[pb.Feedback(request_id="r", true_value=1.0)] * 10_001)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as err:
        feedback(prod, unique("noproj"), pb.Feedback(request_id="r", true_value=1.0))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_feedback_is_project_scoped(
    prod: Any, project: str, model: str, sync_client: modelreg.Client
) -> None:
    r = record(model, predicted_value=1.0, request_id="shared")
    write(prod, project, [r])
    other = unique("proj")
    sync_client.create_project(other)
    done = feedback(
        prod,
        other,
        pb.Feedback(record_id=r.record_id, true_value=1.0),
        pb.Feedback(request_id="shared", true_value=1.0),
    )
    assert done.matched == 0 and [e.reason for e in done.errors] == ["RECORD_NOT_FOUND"] * 2


def test_rollups_move_by_the_delta(prod: Any, project: str, model: str, database_url: str) -> None:
    base = hour_ago(30)
    values = [
        record(model, predicted_value=float(i), event_time=base + timedelta(minutes=37 * i))
        for i in range(6)
    ]
    labels = [record(model, predicted_label=["x", "y"][i % 2]) for i in range(4)]
    write(prod, project, values + labels)
    start = _rollup(database_url, model)
    assert start["count"] == 10 and start["feedback_count"] == 0

    # truths: value i+1 for the numbers (error 1 each), "x" for the labels
    feedback(
        prod,
        project,
        *[pb.Feedback(record_id=r.record_id, true_value=r.predicted_value + 1) for r in values],
        *[pb.Feedback(record_id=r.record_id, true_label="x") for r in labels],
    )
    got = _rollup(database_url, model)
    assert (got["feedback_count"], got["valued_count"], got["labeled_count"]) == (10, 6, 4)
    assert got["correct_count"] == 2
    assert got["abs_err_sum"] == pytest.approx(6.0) and got["sq_err_sum"] == pytest.approx(6.0)

    # overwrite: errors of 3 on two values, labels all "y"
    feedback(
        prod,
        project,
        *[pb.Feedback(record_id=r.record_id, true_value=r.predicted_value - 3) for r in values[:2]],
        *[pb.Feedback(record_id=r.record_id, true_label="y") for r in labels],
    )
    got = _rollup(database_url, model)
    assert (got["feedback_count"], got["valued_count"], got["labeled_count"]) == (10, 6, 4)
    assert got["correct_count"] == 2
    assert got["abs_err_sum"] == pytest.approx(4 * 1 + 2 * 3)
    assert got["sq_err_sum"] == pytest.approx(4 * 1 + 2 * 9)
    # the rollups equal sums over the records
    exact = sql(
        database_url,
        "SELECT count(feedback_time), sum(abs(predicted_value - true_value)), "
        "count(*) FILTER (WHERE predicted_label = true_label) "
        "FROM inference_records r JOIN models m ON m.id = r.model_id WHERE m.name = $1",
        model,
    )[0]
    assert (exact[0], exact[2]) == (10, 2) and exact[1] == pytest.approx(10.0)
