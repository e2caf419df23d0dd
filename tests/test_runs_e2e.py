"""Runs end to end over gRPC (TrackingService, generated stub): create, read,
list, update, log params and metric points, end, metric history."""

from __future__ import annotations

import math
import struct
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2

from modelreg.api.v1 import resources_pb2 as pb
from modelreg.api.v1 import tracking_service_pb2 as rpc
from modelreg_server.storage import runs as runs_q
from tests.bad_input import bad_fields, error_info
from tests.conftest import unique
from tests.hostile import outcome
from tests.run_support import Sql, create_run, end, failure, list_ids, log, param, sql, tracking
from tests.support import ACTOR, register

__all__ = ["sql", "tracking"]  # fixtures


def _invalid(call: Any, request: Any, field: str) -> None:
    code, status = outcome(call, request)
    assert code == grpc.StatusCode.INVALID_ARGUMENT, status.message
    assert bad_fields(status) == [field], status.message
    assert error_info(status).metadata["field"] == field


def _reason(err: grpc.RpcError) -> str:
    from grpc_status import rpc_status

    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    assert status is not None
    return error_info(status).reason


def _bits(x: float) -> bytes:
    return struct.pack("<d", x)


# Create and get


def test_create_makes_ids_or_takes_given_ones(tracking: Any, project: str) -> None:
    first = create_run(tracking, project)
    second = create_run(tracking, project)
    assert (first.run_id, second.run_id) == ("run_001", "run_002")
    assert first.name == f"projects/{project}/runs/run_001"
    given = create_run(tracking, project, "run_003")
    assert given.run_id == "run_003"
    assert create_run(tracking, project).run_id == "run_004"  # a taken id is skipped
    err = failure(
        tracking.CreateRun, rpc.CreateRunRequest(parent=f"projects/{project}", run_id="run_003")
    )
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS
    assert list_ids(tracking, project) == ["run_001", "run_002", "run_003", "run_004"]


def test_create_records_everything_and_get_returns_it(
    tracking: Any, project: str, sql: Sql
) -> None:
    train = sql.dataset_version(project, "corpus", "2024-09-01", batch_id="b7")
    test = sql.dataset_version(project, "corpus", "2024-10-01")
    run = create_run(
        tracking,
        project,
        "baseline",
        experiment="lr-sweep",
        params={"lr": param(0.01), "epochs": param(10), "opt": param("adam"), "warm": param(True)},
        inputs=[
            pb.DataRef(dataset_version=train),
            pb.DataRef(dataset="corpus", version="2024-10-01", role=pb.DATA_ROLE_TEST),
        ],
        code_version=pb.CodeVersion(repo="git@x:y", commit="abc123", dirty=True),
        labels={"team": "nlp"},
        description="first try",
    )
    assert run.state == pb.Run.RUNNING
    assert run.experiment == "lr-sweep"
    assert run.created_by == "tester"
    assert run.HasField("start_time") and not run.HasField("end_time")
    assert dict(run.params) == {
        "lr": param(0.01), "epochs": param(10), "opt": param("adam"), "warm": param(True)
    }  # fmt: skip
    assert [(i.dataset, i.version, i.batch_id, i.role, i.dataset_version) for i in run.inputs] == [
        ("corpus", "2024-09-01", "b7", pb.DATA_ROLE_TRAIN, train),
        ("corpus", "2024-10-01", "", pb.DATA_ROLE_TEST, test),
    ]
    assert (run.code_version.repo, run.code_version.commit, run.code_version.dirty) == (
        "git@x:y", "abc123", True
    )  # fmt: skip
    assert dict(run.labels) == {"team": "nlp"}
    assert run.description == "first try"
    assert tracking.GetRun(rpc.GetRunRequest(name=run.name)) == run
    rows = sql.fetch(
        "SELECT i.position, i.role FROM run_inputs i JOIN runs r ON r.id = i.run_id "
        "JOIN projects p ON p.id = r.project_id WHERE p.name = $1 ORDER BY 1",
        project,
    )
    assert [(r["position"], r["role"]) for r in rows] == [(0, "TRAIN"), (1, "TEST")]


def test_missing_project_and_run_are_not_found(tracking: Any, project: str) -> None:
    missing = unique("nope")
    run = f"projects/{project}/runs/r"
    for call, request in [
        (tracking.CreateRun, rpc.CreateRunRequest(parent=f"projects/{missing}")),
        (tracking.GetRun, rpc.GetRunRequest(name=f"projects/{missing}/runs/r")),
        (tracking.GetRun, rpc.GetRunRequest(name=run)),
        (tracking.ListRuns, rpc.ListRunsRequest(parent=f"projects/{missing}")),
        (tracking.LogRunData, rpc.LogRunDataRequest(run=run)),
        (tracking.EndRun, rpc.EndRunRequest(name=run, state=pb.Run.FAILED)),
        (tracking.ListMetricHistory, rpc.ListMetricHistoryRequest(run=run, key="loss")),
    ]:
        assert failure(call, request).code() == grpc.StatusCode.NOT_FOUND, request
    assert list(tracking.ListRuns(rpc.ListRunsRequest(parent=f"projects/{project}")).runs) == []


def _inputs(*refs: pb.DataRef) -> dict[str, Any]:
    return {"run": pb.Run(inputs=refs)}


def _ref(dataset: str = "corpus", version: str = "", **more: Any) -> pb.DataRef:
    return pb.DataRef(dataset=dataset, version=version, **more)


BAD_CREATES: dict[str, tuple[dict[str, Any], str]] = {
    "parent": ({"parent": "projects/Bad Name"}, "parent"),
    "run-id": ({"run_id": "Run 1"}, "run_id"),
    "run-id-long": ({"run_id": "r" * 64}, "run_id"),
    "experiment": ({"run": pb.Run(experiment="e" * 257)}, "run.experiment"),
    "experiment-nul": ({"run": pb.Run(experiment="a\x00b")}, "run.experiment"),
    "param-key": ({"run": pb.Run(params={"1lr": param(1)})}, "run.params['1lr']"),
    "param-unset": ({"run": pb.Run(params={"lr": pb.ParamValue()})}, "run.params['lr']"),
    "param-nan": ({"run": pb.Run(params={"lr": param(math.nan)})}, "run.params['lr']"),
    "label-key": ({"run": pb.Run(labels={"Team": "x"})}, "run.labels['Team']"),
    "description": ({"run": pb.Run(description="d" * 10_001)}, "run.description"),
    "commit": (
        {"run": pb.Run(code_version=pb.CodeVersion(commit="c" * 257))},
        "run.code_version.commit",
    ),
    "input-unnamed": (_inputs(_ref()), "run.inputs[0]"),
    "input-bad-name": (
        _inputs(pb.DataRef(dataset_version="projects/x/datasets/y")),
        "run.inputs[0].dataset_version",
    ),
    "input-bad-role": (_inputs(_ref("c", "v", role=9)), "run.inputs[0].role"),
    "input-missing": (_inputs(_ref(version="v9")), "run.inputs[0]"),
    "input-missing-2nd": (_inputs(_ref(version="v1"), _ref(version="v2")), "run.inputs[1]"),
    "request-id": ({"request_id": "has space"}, "request_id"),
}


@pytest.mark.parametrize("case", list(BAD_CREATES))
def test_bad_creates_name_the_field_and_write_nothing(
    tracking: Any, project: str, sql: Sql, case: str
) -> None:
    sql.dataset_version(project, "corpus", "v1")
    fields, field = BAD_CREATES[case]
    request = rpc.CreateRunRequest(**{"parent": f"projects/{project}", **fields})
    before = sql.counts()
    _invalid(tracking.CreateRun, request, field)
    assert sql.counts() == before
    assert sql.runs_of(project) == 0


def test_create_with_request_id_is_idempotent(tracking: Any, project: str) -> None:
    request = rpc.CreateRunRequest(
        parent=f"projects/{project}", run=pb.Run(experiment="e"), request_id="create-1"
    )
    first = tracking.CreateRun(request, metadata=ACTOR)
    assert tracking.CreateRun(request, metadata=ACTOR) == first
    assert list_ids(tracking, project) == [first.run_id]
    request.run.experiment = "other"
    err = failure(tracking.CreateRun, request)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _reason(err) == "REQUEST_ID_REUSED"


def test_outputs_are_the_versions_the_run_produced(
    tracking: Any, project: str, sql: Sql, sync_client: Any
) -> None:
    run = create_run(tracking, project)
    versions = register(sync_client, project, "tx", 3)
    # What registering with source_run does (the registration side links it).
    sql.value(
        "UPDATE model_versions v SET run_id = r.id FROM runs r JOIN projects p "
        "ON p.id = r.project_id WHERE p.name = $1 AND r.name = $2 AND v.id IN "
        "(SELECT v2.id FROM model_versions v2 JOIN models m ON m.id = v2.model_id "
        " WHERE m.project_id = p.id AND v2.version IN (1, 3))",
        project,
        run.run_id,
    )
    got = tracking.GetRun(rpc.GetRunRequest(name=run.name))
    assert [(o.model_version, o.display_name, o.artifact_uri) for o in got.outputs] == [
        (f"projects/{project}/models/tx/versions/{v.version}", f"tx_v{v.version}", v.artifact.uri)
        for v in (versions[0], versions[2])
    ]
    listed = tracking.ListRuns(rpc.ListRunsRequest(parent=f"projects/{project}")).runs
    assert list(listed) == [got]


# Logging


def test_latest_metric_is_the_highest_step_then_the_last_logged(
    tracking: Any, project: str
) -> None:
    run = create_run(tracking, project).name
    log(tracking, run, ("loss", 0.9, 1), ("loss", 0.5, 3), ("loss", 0.7, 2), ("acc", 0.1, 5))
    log(tracking, run, ("loss", 0.6, 3), ("loss", 0.4, 2), ("acc", 0.2, 4))
    got = tracking.GetRun(rpc.GetRunRequest(name=run))
    latest = {k: (m.key, m.value, m.step) for k, m in got.latest_metrics.items()}
    assert latest == {"loss": ("loss", 0.6, 3), "acc": ("acc", 0.1, 5)}
    # Equal steps within one call: the last one logged.
    log(tracking, run, ("acc", 0.3, 5), ("acc", 0.35, 5))
    got = tracking.GetRun(rpc.GetRunRequest(name=run))
    assert got.latest_metrics["acc"].value == 0.35
    assert got.latest_metrics["acc"].HasField("time")


def test_deleting_the_project_deletes_its_runs_points(
    tracking: Any, project: str, sql: Sql, sync_client: Any
) -> None:
    # run_metrics and run_latest_metrics have no foreign key to cascade by.
    other = create_run(tracking, project).name
    log(tracking, other, ("loss", 0.5, 1))
    doomed = unique("doomed")
    sync_client.create_project(doomed)
    run = create_run(tracking, doomed).name
    log(tracking, run, ("loss", 0.9, 1), ("acc", 0.1, 1))
    before = sql.counts()
    sync_client.delete_project(doomed, force=True)
    after = sql.counts()
    for table in ("runs", "run_latest_metrics", "run_metrics"):
        assert before[table] - after[table] == {"runs": 1}.get(table, 2), table
    assert len(tracking.GetRun(rpc.GetRunRequest(name=other)).latest_metrics) == 1


def test_log_params_are_fixed_once_set(tracking: Any, project: str, sql: Sql) -> None:
    run = create_run(tracking, project, params={"lr": param(0.01)})
    assert log(tracking, run.name, lr=0.01, epochs=3).params_logged == 1
    assert log(tracking, run.name, epochs=3).params_logged == 0  # the same value again
    before = sql.counts()
    request = rpc.LogRunDataRequest(
        run=run.name,
        metrics=[pb.Metric(key="loss", value=1.0, step=1)],
        params={"epochs": param(4), "new": param("x")},
    )
    _invalid(tracking.LogRunData, request, "params['epochs']")
    request.params["epochs"].CopyFrom(param(3.0))  # a float is not the int 3
    _invalid(tracking.LogRunData, request, "params['epochs']")
    assert sql.counts() == before  # all or nothing: no point, no param
    got = tracking.GetRun(rpc.GetRunRequest(name=run.name))
    assert dict(got.params) == {"lr": param(0.01), "epochs": param(3)}
    assert len(got.latest_metrics) == 0
    assert got.etag != run.etag


def test_ended_runs_take_no_data(tracking: Any, project: str, sql: Sql) -> None:
    run = create_run(tracking, project).name
    end(tracking, run, pb.Run.FAILED)
    before = sql.counts()
    err = failure(tracking.LogRunData, rpc.LogRunDataRequest(run=run, metrics=[pb.Metric(key="x")]))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert _reason(err) == "RUN_ENDED"
    assert sql.counts() == before


def _points(*metrics: pb.Metric) -> rpc.LogRunDataRequest:
    return rpc.LogRunDataRequest(metrics=metrics)


FIRST_US = {"seconds": -62_135_596_800}  # 0001-01-01T00:00:00Z
LAST_US = {"seconds": 253_402_300_799, "nanos": 999_999_999}  # 9999-12-31T23:59:59.999999999Z
BAD_LOGS: dict[str, tuple[rpc.LogRunDataRequest, str]] = {
    "run-name": (rpc.LogRunDataRequest(run="projects/p/runs/Bad"), "run"),
    "metric-key": (_points(pb.Metric(key="ok"), pb.Metric(key="9lives")), "metrics[1].key"),
    "metric-key-empty": (_points(pb.Metric(key="")), "metrics[0].key"),
    "metric-key-nul": (_points(pb.Metric(key="a\x00")), "metrics[0].key"),
    "metric-time": (_points(pb.Metric(key="a", time={"seconds": 2**62})), "metrics[0].time"),
    # The calendar's first and last microsecond would be stored as -infinity and infinity,
    # which no read could turn back into a time (the run would answer INTERNAL from then on).
    "metric-time-first": (_points(pb.Metric(key="a", time=FIRST_US)), "metrics[0].time"),
    "metric-time-last": (
        _points(pb.Metric(key="a"), pb.Metric(key="b", time=LAST_US)),
        "metrics[1].time",
    ),
    "param-key": (rpc.LogRunDataRequest(params={"-x": param(1)}), "params['-x']"),
    "param-inf": (rpc.LogRunDataRequest(params={"x": param(math.inf)}), "params['x']"),
    "request-id": (rpc.LogRunDataRequest(request_id="x" * 129), "request_id"),
}


@pytest.mark.parametrize("case", list(BAD_LOGS))
def test_bad_logs_name_the_field_and_write_nothing(
    tracking: Any, project: str, sql: Sql, case: str
) -> None:
    run = create_run(tracking, project).name
    request, field = BAD_LOGS[case]
    request = rpc.LogRunDataRequest.FromString(request.SerializeToString())
    if not request.run:
        request.run = run
    before = sql.counts()
    _invalid(tracking.LogRunData, request, field)
    assert sql.counts() == before


def test_at_most_100000_points_per_call_and_they_arrive_complete_in_order(
    tracking: Any, project: str, sql: Sql
) -> None:
    run = create_run(tracking, project).name
    too_many = rpc.LogRunDataRequest(run=run)
    for i in range(100_001):
        too_many.metrics.add(key="loss", value=i, step=i)
    before = sql.counts()
    _invalid(tracking.LogRunData, too_many, "metrics")
    assert sql.counts() == before

    request = rpc.LogRunDataRequest(run=run)
    # Steps logged out of order: the history comes back by step.
    for i in range(100_000):
        step = (i * 7_919) % 100_000
        request.metrics.add(key="loss", value=step / 10, step=step)
    assert tracking.LogRunData(request, metadata=ACTOR, timeout=60).metrics_logged == 100_000
    points: list[tuple[int, float]] = []
    token = ""
    pages = 0
    while True:
        page = tracking.ListMetricHistory(
            rpc.ListMetricHistoryRequest(run=run, key="loss", page_size=50_000, page_token=token)
        )
        assert len(page.metrics) <= 10_000  # the page size is capped
        points += [(m.step, m.value) for m in page.metrics]
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert pages == 10
    assert points == [(s, s / 10) for s in range(100_000)]
    latest = tracking.GetRun(rpc.GetRunRequest(name=run)).latest_metrics["loss"]
    assert (latest.step, latest.value) == (99_999, 9_999.9)


def test_nan_and_infinities_are_stored_and_returned_exactly(tracking: Any, project: str) -> None:
    run = create_run(tracking, project).name
    specials = [math.nan, math.inf, -math.inf, -0.0, 5e-324, 1.7976931348623157e308, 0.1]
    log(tracking, run, *[("v", x, i) for i, x in enumerate(specials)], ("n", math.nan, 1))
    history = tracking.ListMetricHistory(rpc.ListMetricHistoryRequest(run=run, key="v")).metrics
    got = [m.value for m in history]
    assert [_bits(x) for x in got[1:]] == [_bits(x) for x in specials[1:]]
    assert math.isnan(got[0])
    latest = tracking.GetRun(rpc.GetRunRequest(name=run)).latest_metrics
    assert _bits(latest["v"].value) == _bits(0.1)
    assert math.isnan(latest["n"].value)
    for x in (-0.0, math.inf, -math.inf):
        log(tracking, run, ("last", x, 1))
        assert _bits(
            tracking.GetRun(rpc.GetRunRequest(name=run)).latest_metrics["last"].value
        ) == _bits(x)


def test_log_retry_with_the_request_id_appends_nothing(tracking: Any, project: str) -> None:
    run = create_run(tracking, project).name
    request = rpc.LogRunDataRequest(
        run=run,
        metrics=[pb.Metric(key="loss", value=1.0, step=s) for s in range(3)],
        params={"lr": param(0.1)},
        request_id="log-1",
    )
    first = tracking.LogRunData(request, metadata=ACTOR)
    assert (first.metrics_logged, first.params_logged) == (3, 1)
    assert tracking.LogRunData(request, metadata=ACTOR) == first
    history = tracking.ListMetricHistory(rpc.ListMetricHistoryRequest(run=run, key="loss"))
    assert len(history.metrics) == 3
    request.metrics[0].value = 2.0
    assert failure(tracking.LogRunData, request).code() == grpc.StatusCode.INVALID_ARGUMENT


def test_metric_time_is_kept_or_defaults_to_now(tracking: Any, project: str) -> None:
    run = create_run(tracking, project)
    when = {"seconds": 1_700_000_000, "nanos": 123_456_000}
    tracking.LogRunData(
        rpc.LogRunDataRequest(
            run=run.name, metrics=[pb.Metric(key="a", time=when), pb.Metric(key="b")]
        ),
        metadata=ACTOR,
    )
    got = tracking.GetRun(rpc.GetRunRequest(name=run.name))
    a, b = got.latest_metrics["a"].time, got.latest_metrics["b"].time
    assert (a.seconds, a.nanos) == (1_700_000_000, 123_456_000)
    assert b.seconds >= run.start_time.seconds


def test_metric_times_next_to_the_calendars_ends_are_kept(tracking: Any, project: str) -> None:
    run = create_run(tracking, project)
    first = {"seconds": FIRST_US["seconds"], "nanos": 1_000}
    last = {"seconds": LAST_US["seconds"], "nanos": 999_998_000}
    metrics = [pb.Metric(key="a", time=first), pb.Metric(key="b", time=last)]
    tracking.LogRunData(rpc.LogRunDataRequest(run=run.name, metrics=metrics), metadata=ACTOR)
    got = tracking.GetRun(rpc.GetRunRequest(name=run.name))
    a, b = got.latest_metrics["a"].time, got.latest_metrics["b"].time
    assert (a.seconds, a.nanos, b.seconds, b.nanos) == (*first.values(), *last.values())


# History


def test_history_pages_by_step_then_log_order(tracking: Any, project: str) -> None:
    run = create_run(tracking, project).name
    log(tracking, run, ("m", 1.0, 2), ("m", 2.0, 1), ("m", 3.0, 2), ("other", 0.0, 0))
    log(tracking, run, ("m", 4.0, 1), ("m", 5.0, 0))
    seen: list[tuple[int, float]] = []
    token = ""
    while True:
        page = tracking.ListMetricHistory(
            rpc.ListMetricHistoryRequest(run=run, key="m", page_size=2, page_token=token)
        )
        assert len(page.metrics) <= 2
        assert all(m.key == "m" for m in page.metrics)
        seen += [(m.step, m.value) for m in page.metrics]
        token = page.next_page_token
        if not token:
            break
    assert seen == [(0, 5.0), (1, 2.0), (1, 4.0), (2, 1.0), (2, 3.0)]
    unknown = tracking.ListMetricHistory(rpc.ListMetricHistoryRequest(run=run, key="never"))
    assert (list(unknown.metrics), unknown.next_page_token) == ([], "")
    first = tracking.ListMetricHistory(rpc.ListMetricHistoryRequest(run=run, key="m", page_size=1))
    _invalid(
        tracking.ListMetricHistory,
        rpc.ListMetricHistoryRequest(run=run, key="other", page_token=first.next_page_token),
        "page_token",
    )
    _invalid(
        tracking.ListMetricHistory,
        rpc.ListMetricHistoryRequest(run=run, key="m", page_size=-1),
        "page_size",
    )
    _invalid(tracking.ListMetricHistory, rpc.ListMetricHistoryRequest(run=run, key="a b"), "key")


# End and update


def test_end_states(tracking: Any, project: str) -> None:
    run = create_run(tracking, project)
    for state in (pb.Run.STATE_UNSPECIFIED, pb.Run.RUNNING, 42):
        _invalid(tracking.EndRun, rpc.EndRunRequest(name=run.name, state=state), "state")
    err = failure(
        tracking.EndRun, rpc.EndRunRequest(name=run.name, state=pb.Run.SUCCEEDED, etag='W/"0"')
    )
    assert err.code() == grpc.StatusCode.ABORTED
    ended = tracking.EndRun(
        rpc.EndRunRequest(name=run.name, state=pb.Run.SUCCEEDED, etag=run.etag), metadata=ACTOR
    )
    assert ended.state == pb.Run.SUCCEEDED
    assert ended.HasField("end_time") and ended.etag != run.etag
    assert end(tracking, run.name, pb.Run.SUCCEEDED) == ended  # again: unchanged
    for other in (pb.Run.FAILED, pb.Run.CANCELLED):
        err = failure(tracking.EndRun, rpc.EndRunRequest(name=run.name, state=other))
        assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert _reason(err) == "RUN_ENDED"
    assert tracking.GetRun(rpc.GetRunRequest(name=run.name)) == ended


def test_update_description_and_labels_with_etags(tracking: Any, project: str, sql: Sql) -> None:
    run = create_run(tracking, project, labels={"a": "1", "b": "2"}, description="old")

    def update(paths: list[str], etag: str = "", **fields: Any) -> Any:
        return rpc.UpdateRunRequest(
            run=pb.Run(name=run.name, etag=etag, **fields),
            update_mask=field_mask_pb2.FieldMask(paths=paths),
        )

    got = tracking.UpdateRun(update(["labels"], run.etag, labels={"c": "3"}), metadata=ACTOR)
    assert (dict(got.labels), got.description) == ({"c": "3"}, "old")
    assert got.etag != run.etag
    err = failure(tracking.UpdateRun, update(["description"], run.etag, description="x"))
    assert err.code() == grpc.StatusCode.ABORTED
    assert _reason(err) == "STALE_ETAG"
    got = tracking.UpdateRun(update(["description"], description="new"), metadata=ACTOR)
    assert (dict(got.labels), got.description) == ({"c": "3"}, "new")
    assert list_ids(tracking, project, 'labels.c = "3"') == [run.run_id]
    assert list_ids(tracking, project, 'labels.a = "1"') == []
    before = sql.counts()
    _invalid(tracking.UpdateRun, update([]), "update_mask")
    _invalid(tracking.UpdateRun, update(["experiment"], experiment="e"), "update_mask")
    _invalid(tracking.UpdateRun, update(["labels"], labels={"BAD": "x"}), "run.labels['BAD']")
    _invalid(
        tracking.UpdateRun, update(["description"], description="x" * 10_001), "run.description"
    )
    assert sql.counts() == before
    assert tracking.GetRun(rpc.GetRunRequest(name=run.name)) == got


# Lists


def test_list_order_and_pages(tracking: Any, project: str) -> None:
    for run_id in ("c", "a", "d", "b", "e"):
        create_run(tracking, project, run_id)
    assert list_ids(tracking, project) == ["c", "a", "d", "b", "e"]  # by start time
    assert list_ids(tracking, project, order_by="start_time desc") == ["e", "b", "d", "a", "c"]
    assert list_ids(tracking, project, order_by="run_id") == ["a", "b", "c", "d", "e"]
    assert list_ids(tracking, project, order_by="run_id desc") == ["e", "d", "c", "b", "a"]
    parent = f"projects/{project}"
    first = tracking.ListRuns(rpc.ListRunsRequest(parent=parent, page_size=2, order_by="run_id"))
    assert [r.run_id for r in first.runs] == ["a", "b"]
    second = tracking.ListRuns(
        rpc.ListRunsRequest(
            parent=parent, page_size=3, order_by="run_id", page_token=first.next_page_token
        )
    )
    assert ([r.run_id for r in second.runs], second.next_page_token) == (["c", "d", "e"], "")
    _invalid(
        tracking.ListRuns,
        rpc.ListRunsRequest(parent=parent, page_token=first.next_page_token),
        "page_token",
    )
    _invalid(
        tracking.ListRuns, rpc.ListRunsRequest(parent=parent, order_by="experiment"), "order_by"
    )
    _invalid(tracking.ListRuns, rpc.ListRunsRequest(parent=parent, page_size=-1), "page_size")
    _invalid(tracking.ListRuns, rpc.ListRunsRequest(parent="projects"), "parent")


def test_pages_read_in_chunks_are_the_pages_read_whole(
    tracking: Any, project: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page is read through a cursor in chunks (storage/runs.py); small chunks here,
    so that pages end inside a chunk, on its last row, and just after it."""
    ids = [f"r{i:02d}" for i in range(11)]
    for run_id in ids:
        create_run(tracking, project, run_id)
    parent = f"projects/{project}"

    def pages(size: int) -> list[list[str]]:
        got, token = [], ""
        while True:
            page = tracking.ListRuns(
                rpc.ListRunsRequest(
                    parent=parent, page_size=size, order_by="run_id", page_token=token
                )
            )
            got.append([r.run_id for r in page.runs])
            token = page.next_page_token
            if not token:
                return got

    whole = {size: pages(size) for size in range(1, 13)}
    assert whole[11] == whole[12] == [ids]
    monkeypatch.setattr(runs_q, "CHUNKED_PAGE", 2)
    monkeypatch.setattr(runs_q, "FIRST_CHUNK", 2)
    monkeypatch.setattr(runs_q, "MAX_CHUNK", 4)
    for size in range(1, 13):
        assert pages(size) == whole[size] == [ids[i : i + size] for i in range(0, 11, size)]
        assert (
            tracking.ListRuns(
                rpc.ListRunsRequest(parent=parent, page_size=size, filter='run_id = "none"')
            )
            == rpc.ListRunsResponse()
        )


def test_end_and_update_retries_replay_runs_holding_nan(tracking: Any, project: str) -> None:
    """A stored response holds the run's latest metrics: NaN and infinities survive it."""
    run = create_run(tracking, project).name
    log(tracking, run, ("loss", math.nan, 1), ("gain", -math.inf, 1))
    update = rpc.UpdateRunRequest(
        run=pb.Run(name=run, description="d"),
        update_mask=field_mask_pb2.FieldMask(paths=["description"]),
        request_id="update-1",
    )
    updated = tracking.UpdateRun(update, metadata=ACTOR)
    assert tracking.UpdateRun(update, metadata=ACTOR) == updated
    request = rpc.EndRunRequest(name=run, state=pb.Run.CANCELLED, request_id="end-1")
    ended = tracking.EndRun(request, metadata=ACTOR)
    replayed = tracking.EndRun(request, metadata=ACTOR)
    assert replayed == ended
    assert math.isnan(replayed.latest_metrics["loss"].value)
    assert replayed.latest_metrics["gain"].value == -math.inf
    request.state = pb.Run.FAILED
    err = failure(tracking.EndRun, request)
    assert _reason(err) == "REQUEST_ID_REUSED"


def test_concurrent_logs_on_one_run_all_land_and_agree_on_the_latest(
    tracking: Any, project: str
) -> None:
    run = create_run(tracking, project).name

    def call(worker: int) -> Any:
        request = rpc.LogRunDataRequest(
            run=run,
            metrics=[
                pb.Metric(key=f"k{i % 5}", value=worker * 10_000 + i, step=i * 4 + worker)
                for i in range(2_000)
            ],
            params={"shared": param(1), f"own{worker}": param(worker)},
        )
        return tracking.LogRunData(request, metadata=ACTOR, timeout=60)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(call, range(4)))
    assert sum(r.metrics_logged for r in results) == 8_000
    assert sum(r.params_logged for r in results) == 5  # `shared` once, by whoever came first
    got = tracking.GetRun(rpc.GetRunRequest(name=run))
    assert dict(got.params) == {"shared": param(1), **{f"own{w}": param(w) for w in range(4)}}
    for k in range(5):
        # The highest step of key k: i = 1995 + k, by worker 3.
        assert got.latest_metrics[f"k{k}"].step == (1995 + k) * 4 + 3
        history = tracking.ListMetricHistory(
            rpc.ListMetricHistoryRequest(run=run, key=f"k{k}", page_size=10_000)
        ).metrics
        steps = [m.step for m in history]
        assert len(steps) == 1_600 and steps == sorted(steps)


HOSTILE = "x" * 5000


@pytest.mark.parametrize(
    ("method", "build", "field"),
    [
        ("GetRun", lambda p: rpc.GetRunRequest(name=f"projects/{p}/runs/{HOSTILE}"), "name"),
        ("GetRun", lambda p: rpc.GetRunRequest(name=f"projects/{p}/runs/a\x00"), "name"),
        ("GetRun", lambda p: rpc.GetRunRequest(name=f"projects/{p}/runs/a/b"), "name"),
        ("EndRun", lambda p: rpc.EndRunRequest(name=f"projects/{p}/runs/ABC", state=2), "name"),
        ("LogRunData", lambda p: rpc.LogRunDataRequest(run=f"projects/{p}/runs/"), "run"),
        (
            "ListMetricHistory",
            lambda p: rpc.ListMetricHistoryRequest(run=f"projects/{p}/runs/r", key="k' OR 1=1"),
            "key",
        ),
        (
            "ListMetricHistory",
            lambda p: rpc.ListMetricHistoryRequest(run=f"projects/{p}/runs/r", key=HOSTILE),
            "key",
        ),
        (
            "UpdateRun",
            lambda p: rpc.UpdateRunRequest(
                run=pb.Run(name=f"projects/{p}/runs/r", description="a\x00b"),
                update_mask=field_mask_pb2.FieldMask(paths=["description"]),
            ),
            "run.description",
        ),
        (
            "ListRuns",
            lambda p: rpc.ListRunsRequest(parent=f"projects/{p}", page_token=HOSTILE),
            "page_token",
        ),
    ],
)
def test_hostile_requests_are_invalid_argument_and_write_nothing(
    tracking: Any, project: str, sql: Sql, method: str, build: Any, field: str
) -> None:
    create_run(tracking, project, "r")
    before = sql.counts()
    _invalid(getattr(tracking, method), build(project), field)
    assert sql.counts() == before


def test_a_run_has_at_most_1000_params(tracking: Any, project: str, sql: Sql) -> None:
    run = create_run(tracking, project, params={f"p{i}": param(i) for i in range(999)}).name
    assert log(tracking, run, p0=0, last=1).params_logged == 1
    before = sql.counts()
    _invalid(tracking.LogRunData, rpc.LogRunDataRequest(run=run, params={"x": param(1)}), "params")
    assert sql.counts() == before
    assert len(tracking.GetRun(rpc.GetRunRequest(name=run)).params) == 1000


# EndRun with the last data (EndRunRequest.metrics, .params)


def _end_with(run: str, *points: tuple[str, float, int], **params: Any) -> rpc.EndRunRequest:
    return rpc.EndRunRequest(
        name=run,
        state=pb.Run.SUCCEEDED,
        metrics=[pb.Metric(key=k, value=v, step=s) for k, v, s in points],
        params={k: param(v) for k, v in params.items()},
    )


def _history(tracking: Any, run: str, key: str) -> list[tuple[int, float]]:
    page = tracking.ListMetricHistory(
        rpc.ListMetricHistoryRequest(run=run, key=key, page_size=10_000)
    )
    return [(m.step, m.value) for m in page.metrics]


@pytest.mark.parametrize("params", [{}, {"lr": 0.1}], ids=["points", "points-and-params"])
def test_end_appends_the_last_points_and_params(
    tracking: Any, project: str, params: dict[str, Any]
) -> None:
    run = create_run(tracking, project).name
    log(tracking, run, ("loss", 0.9, 1), ("acc", 0.5, 9))
    ended = tracking.EndRun(
        _end_with(run, ("loss", 0.5, 2), ("loss", math.nan, 2), ("acc", 0.1, 3), **params),
        metadata=ACTOR,
    )
    assert ended.state == pb.Run.SUCCEEDED and ended.HasField("end_time")
    assert dict(ended.params) == {k: param(v) for k, v in params.items()}
    latest = {k: (m.step, m.value) for k, m in ended.latest_metrics.items()}
    assert math.isnan(latest.pop("loss")[1]) and ended.latest_metrics["loss"].step == 2
    assert latest == {"acc": (9, 0.5)}  # a lower step does not replace the latest
    assert tracking.GetRun(rpc.GetRunRequest(name=run)) == ended
    assert _history(tracking, run, "acc") == [(3, 0.1), (9, 0.5)]
    assert [s for s, _ in _history(tracking, run, "loss")] == [1, 2, 2]


def test_end_with_many_points_copies_them(tracking: Any, project: str) -> None:
    run = create_run(tracking, project).name
    points = [("m", float(i), i) for i in range(5_000)]
    ended = tracking.EndRun(_end_with(run, *points), metadata=ACTOR, timeout=60)
    assert ended.state == pb.Run.SUCCEEDED
    assert (ended.latest_metrics["m"].step, ended.latest_metrics["m"].value) == (4_999, 4_999.0)
    assert len(_history(tracking, run, "m")) == 5_000


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (_end_with("", ("ok", 1.0, 1), ("9bad", 1.0, 1)), "metrics[1].key"),
        (_end_with("", ("ok", 1.0, 1), lr=math.inf), "params['lr']"),
        (_end_with("", ("ok", 1.0, 1), lr=0.2), "params['lr']"),  # set to 0.1 at create
    ],
    ids=["metric-key", "param-inf", "param-changed"],
)
def test_a_bad_end_leaves_the_run_running_and_writes_nothing(
    tracking: Any, project: str, sql: Sql, request_: rpc.EndRunRequest, field: str
) -> None:
    run = create_run(tracking, project, params={"lr": param(0.1)})
    request = rpc.EndRunRequest.FromString(request_.SerializeToString())
    request.name = run.name
    before = sql.counts()
    _invalid(tracking.EndRun, request, field)
    assert sql.counts() == before
    assert tracking.GetRun(rpc.GetRunRequest(name=run.name)) == run


def test_end_retry_and_end_again_append_nothing(tracking: Any, project: str, sql: Sql) -> None:
    run = create_run(tracking, project).name
    request = _end_with(run, ("loss", 0.3, 1), ("loss", 0.2, 2))
    request.request_id = "end-with-data"
    ended = tracking.EndRun(request, metadata=ACTOR)
    before = sql.counts()
    assert tracking.EndRun(request, metadata=ACTOR) == ended  # the retry: replayed
    request.request_id = ""
    assert tracking.EndRun(request, metadata=ACTOR) == ended  # the same state again: unchanged
    assert tracking.EndRun(_end_with(run, ("x", 1.0, 1), x=1), metadata=ACTOR) == ended
    assert sql.counts() == before
    assert _history(tracking, run, "loss") == [(1, 0.3), (2, 0.2)]
    err = failure(tracking.EndRun, rpc.EndRunRequest(name=run, state=pb.Run.FAILED))
    assert _reason(err) == "RUN_ENDED"
    request.request_id = "end-with-data"
    request.metrics[0].value = 0.4
    assert _reason(failure(tracking.EndRun, request)) == "REQUEST_ID_REUSED"


def test_end_with_an_etag_and_points(tracking: Any, project: str, sql: Sql) -> None:
    run = create_run(tracking, project)
    stale = _end_with(run.name, ("loss", 0.3, 1))
    stale.etag = 'W/"0"'
    before = sql.counts()
    assert failure(tracking.EndRun, stale).code() == grpc.StatusCode.ABORTED
    assert sql.counts() == before
    stale.etag = run.etag
    ended = tracking.EndRun(stale, metadata=ACTOR)
    assert ended.latest_metrics["loss"].value == 0.3


def test_made_ids_skip_taken_ones_past_999(tracking: Any, project: str, sql: Sql) -> None:
    """The one-statement create spells made ids as the transaction path does."""
    sql.value(
        "INSERT INTO id_counters (kind, parent_id, value) "
        "SELECT 'run', id, 998 FROM projects WHERE name = $1",
        project,
    )
    create_run(tracking, project, "run_1000")
    assert [create_run(tracking, project).run_id for _ in range(2)] == ["run_999", "run_1001"]


def test_end_answers_with_what_a_concurrent_call_committed(
    tracking: Any, project: str, database_url: str
) -> None:
    """EndRun's record agrees with the database when another call changed the run
    while this one waited for its lock."""
    run = create_run(tracking, project)
    other = Sql(database_url)
    try:
        other.value("BEGIN")
        other.value(
            "UPDATE runs SET revision = revision + 1 WHERE id = "
            "(SELECT r.id FROM runs r JOIN projects p ON p.id = r.project_id "
            " WHERE p.name = $1 AND r.name = $2)",
            project,
            run.run_id,
        )
        other.value(
            "INSERT INTO run_latest_metrics (run_id, key, value, step, time, metric_id) "
            "SELECT r.id, 'late', 7, 7, now(), 0 FROM runs r JOIN projects p "
            "ON p.id = r.project_id WHERE p.name = $1 AND r.name = $2",
            project,
            run.run_id,
        )
        with ThreadPoolExecutor(1) as pool:
            ending = pool.submit(
                tracking.EndRun, _end_with(run.name, ("loss", 1.0, 1)), metadata=ACTOR, timeout=20
            )
            time.sleep(0.5)  # EndRun waits for the run row
            assert not ending.done()
            other.value("COMMIT")
            ended = ending.result()
    finally:
        other.close()
    assert set(ended.latest_metrics) == {"late", "loss"}
    assert tracking.GetRun(rpc.GetRunRequest(name=run.name)) == ended


def test_concurrent_small_logs_and_an_end_agree(tracking: Any, project: str) -> None:
    """Calls of a few points (one statement each) side by side on one run, with a
    large one (COPY) and an end carrying points among them."""
    run = create_run(tracking, project).name

    def small(worker: int) -> int:
        logged = 0
        for call in range(10):
            step = call * 4 + worker
            points = [pb.Metric(key=f"k{i}", value=step, step=step) for i in range(20)]
            request = rpc.LogRunDataRequest(run=run, metrics=points, request_id=f"w{worker}-{call}")
            logged += tracking.LogRunData(request, metadata=ACTOR, timeout=60).metrics_logged
        return logged

    def large(_: int) -> int:
        points = [pb.Metric(key=f"k{i % 20}", value=-1, step=i // 20) for i in range(4_000)]
        request = rpc.LogRunDataRequest(run=run, metrics=points)
        return int(tracking.LogRunData(request, metadata=ACTOR, timeout=60).metrics_logged)

    with ThreadPoolExecutor(4) as pool:
        calls = [pool.submit(small, w) for w in range(3)] + [pool.submit(large, 0)]
        logged = sum(call.result() for call in calls)
    assert logged == 3 * 10 * 20 + 4_000
    ended = tracking.EndRun(_end_with(run, ("k0", 9.0, 1_000)), metadata=ACTOR)
    assert ended.latest_metrics["k0"].step == 1_000
    for i in range(1, 20):
        # The highest step of k{i}: 199 from the large call (the small ones reach 38).
        assert (ended.latest_metrics[f"k{i}"].step, ended.latest_metrics[f"k{i}"].value) == (
            199,
            -1,
        )
    assert len(_history(tracking, run, "k5")) == 30 + 200
