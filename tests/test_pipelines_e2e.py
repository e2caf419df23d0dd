"""Pipeline runs end to end over gRPC: create (the pipeline with its first run,
server-made ids), get, list with filters, order and pages, ListPipelines; ending a
run (idempotent, etags, a failed step forbids SUCCEEDED); request_id retries.
Steps are test_pipeline_steps_e2e.py's."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import pytest

import modelreg
from modelreg.api.v1 import lineage_service_pb2 as rpc
from modelreg.api.v1 import resources_pb2 as pb
from tests.pipeline_support import Step, create, end, fails, get, record
from tests.support import sql

Run = pb.PipelineRun
INVALID = grpc.StatusCode.INVALID_ARGUMENT
PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION


@pytest.fixture
def lin(sync_client: modelreg.Client) -> Any:
    return sync_client.lineage_stub


def _list(lin: Any, parent: str, **fields: Any) -> Any:
    return lin.ListPipelineRuns(rpc.ListPipelineRunsRequest(parent=parent, **fields), timeout=20)


def _all(lin: Any, parent: str, page_size: int, **fields: Any) -> list[str]:
    names, token = [], ""
    while True:
        page = _list(lin, parent, page_size=page_size, page_token=token, **fields)
        assert len(page.pipeline_runs) <= page_size
        names += [r.name for r in page.pipeline_runs]
        token = page.next_page_token
        if not token:
            return names


def test_create_and_get(lin: Any, project: str) -> None:
    made = create(
        lin,
        project,
        definition_version="git:ab12cd",
        params={"lr": pb.ParamValue(float_value=0.1), "epochs": pb.ParamValue(int_value=3)},
        labels={"team": "vision"},
        description="nightly retrain",
        state=Run.SUCCEEDED,  # server-set fields are ignored
        error="ignored",
    )
    assert made.name == f"projects/{project}/pipelines/nightly/runs/run_001"
    assert (made.pipeline, made.run_id, made.definition_version) == (
        "nightly", "run_001", "git:ab12cd",
    )  # fmt: skip
    assert (made.state, made.error, made.created_by) == (Run.RUNNING, "", "tester")
    assert made.params["lr"].float_value == 0.1 and made.params["epochs"].int_value == 3
    assert (dict(made.labels), made.description) == ({"team": "vision"}, "nightly retrain")
    assert made.HasField("start_time") and not made.HasField("end_time") and not made.steps
    assert made.etag and made.HasField("update_time")
    assert get(lin, made.name) == made
    second = create(lin, project)
    assert second.run_id == "run_002"
    given = create(lin, project, run_id="rerun-1")
    assert given.name.endswith("/runs/rerun-1")
    assert create(lin, project, "weekly").run_id == "run_001"


def test_create_errors(lin: Any, project: str) -> None:
    create(lin, project, run_id="a")
    req = rpc.CreatePipelineRunRequest

    def call(**fields: Any) -> Any:
        return req(parent=f"projects/{project}/pipelines/nightly", **fields)

    fails(lin.CreatePipelineRun, call(run_id="a"), grpc.StatusCode.ALREADY_EXISTS, "ALREADY_EXISTS")
    fails(lin.CreatePipelineRun, call(run_id="Bad"), INVALID, "INVALID_ARGUMENT", "run_id")
    bad_parent = req(parent=f"projects/{project}/pipelines/Nightly")
    fails(lin.CreatePipelineRun, bad_parent, INVALID, "INVALID_ARGUMENT", "parent")
    long_version = call(pipeline_run=Run(definition_version="x" * 257))
    field = "pipeline_run.definition_version"
    fails(lin.CreatePipelineRun, long_version, INVALID, "INVALID_ARGUMENT", field)
    bad_param = call(pipeline_run=Run(params={"1x": pb.ParamValue(int_value=1)}))
    field = "pipeline_run.params['1x']"
    fails(lin.CreatePipelineRun, bad_param, INVALID, "INVALID_ARGUMENT", field)
    no_project = req(parent="projects/nope_nope/pipelines/nightly")
    fails(lin.CreatePipelineRun, no_project, grpc.StatusCode.NOT_FOUND, "NOT_FOUND")
    missing = f"projects/{project}/pipelines/nightly/runs/zz"
    fails(lin.GetPipelineRun, rpc.GetPipelineRunRequest(name=missing), grpc.StatusCode.NOT_FOUND,
          "NOT_FOUND")  # fmt: skip
    # Nothing of the failed creates was written: one pipeline, one run.
    pipelines = lin.ListPipelines(rpc.ListPipelinesRequest(parent=f"projects/{project}"))
    assert [(p.name, p.run_count) for p in pipelines.pipelines] == [
        (f"projects/{project}/pipelines/nightly", 1)
    ]


def test_request_id_retries(lin: Any, project: str, database_url: str) -> None:
    first = create(lin, project, request_id="c-1", definition_version="v1")
    again = create(lin, project, request_id="c-1", definition_version="v1")
    assert again == first
    fails(
        lin.CreatePipelineRun,
        rpc.CreatePipelineRunRequest(
            parent=f"projects/{project}/pipelines/nightly",
            pipeline_run=Run(definition_version="v2"),
            request_id="c-1",
        ),
        INVALID,
        "REQUEST_ID_REUSED",
        "request_id",
    )
    step = record(lin, first.name, "train", Step.RUNNING, request_id="s-1")
    record(lin, first.name, "train", Step.SUCCEEDED)
    # The retry replays the first response, though the step has moved on since.
    assert record(lin, first.name, "train", Step.RUNNING, request_id="s-1") == step
    ended = end(lin, first.name, Run.SUCCEEDED, request_id="e-1")
    assert end(lin, first.name, Run.SUCCEEDED, request_id="e-1") == ended
    count = sql(database_url, "SELECT count(*) FROM pipeline_runs r JOIN projects p "
                "ON p.id = r.project_id WHERE p.name = $1", project)[0][0]  # fmt: skip
    assert count == 1


def test_list_filter_order_and_pages(lin: Any, project: str) -> None:
    names = []
    for i in range(7):
        pipeline = "nightly" if i % 2 == 0 else "weekly"
        labels = {"shift": "day" if i < 3 else "night"}
        r = create(lin, project, pipeline, definition_version=f"git:{i}", labels=labels)
        names.append(r.name)
    end(lin, names[1], Run.CANCELLED, error="stopped")
    every = f"projects/{project}/pipelines/-"
    assert _all(lin, every, 2) == names
    assert _all(lin, every, 3, order_by="start_time desc") == names[::-1]
    nightly = f"projects/{project}/pipelines/nightly"
    assert _all(lin, nightly, 2) == names[0::2]
    by_id = _all(lin, every, 4, order_by="run_id")
    assert [n.rsplit("/", 1)[1] for n in by_id] == sorted(n.rsplit("/", 1)[1] for n in names)
    assert _all(lin, every, 10, filter='pipeline = "weekly"') == names[1::2]
    assert _all(lin, every, 10, filter='state = "CANCELLED"') == [names[1]]
    assert _all(lin, every, 10, filter='state != "CANCELLED" AND labels.shift = "night"') == [
        names[3], names[4], names[5], names[6],
    ]  # fmt: skip
    assert _all(lin, every, 10, filter='definition_version = "git:4"') == [names[4]]
    assert _all(lin, every, 10, filter='run_id = "run_002" AND created_by = "tester"') == [
        names[2], names[3],
    ]  # fmt: skip
    first = get(lin, names[0])
    after = first.start_time.ToJsonString()
    assert _all(lin, every, 10, filter=f'start_time > "{after}"') == names[1:]
    assert _all(lin, every, 10, filter='end_time > "2000-01-01T00:00:00Z"') == [names[1]]
    pipelines = lin.ListPipelines(rpc.ListPipelinesRequest(parent=f"projects/{project}"))
    assert [(p.name.rsplit("/", 1)[1], p.run_count, p.latest_run) for p in pipelines.pipelines] == [
        ("nightly", 4, names[6]), ("weekly", 3, names[5]),
    ]  # fmt: skip
    one = lin.ListPipelines(rpc.ListPipelinesRequest(parent=f"projects/{project}", page_size=1))
    assert len(one.pipelines) == 1 and one.next_page_token


def test_list_errors(lin: Any, project: str) -> None:
    every = f"projects/{project}/pipelines/-"
    cases = [
        ({"filter": 'state = "DONE"'}, "filter"),
        ({"filter": 'state < "RUNNING"'}, "filter"),
        ({"filter": 'color = "red"'}, "filter"),
        ({"order_by": "definition_version"}, "order_by"),
        ({"page_size": -1}, "page_size"),
        ({"page_token": "junk"}, "page_token"),
    ]
    for fields, field in cases:
        request = rpc.ListPipelineRunsRequest(parent=every, **fields)
        fails(lin.ListPipelineRuns, request, INVALID, "INVALID_ARGUMENT", field)
    create(lin, project)
    page = _list(lin, every, page_size=1)
    create(lin, project)
    token = _list(lin, every, page_size=1).next_page_token
    other = rpc.ListPipelineRunsRequest(parent=every, page_token=token, filter='run_id = "x"')
    fails(lin.ListPipelineRuns, other, INVALID, "INVALID_ARGUMENT", "page_token")
    assert len(page.pipeline_runs) == 1
    missing = rpc.ListPipelineRunsRequest(parent=f"projects/{project}/pipelines/nope")
    fails(lin.ListPipelineRuns, missing, grpc.StatusCode.NOT_FOUND, "NOT_FOUND")


def test_end_semantics_and_etags(lin: Any, project: str) -> None:
    run = create(lin, project)
    fails(lin.EndPipelineRun, rpc.EndPipelineRunRequest(name=run.name), INVALID,
          "INVALID_ARGUMENT", "state")  # fmt: skip
    stale = rpc.EndPipelineRunRequest(name=run.name, state=Run.SUCCEEDED, etag='W/"999"')
    fails(lin.EndPipelineRun, stale, grpc.StatusCode.ABORTED, "STALE_ETAG")
    ended = end(lin, run.name, Run.SUCCEEDED, etag=run.etag)
    assert (ended.state, ended.HasField("end_time")) == (Run.SUCCEEDED, True)
    assert ended.etag != run.etag
    # Again with the same state: unchanged, whatever the etag.
    assert end(lin, run.name, Run.SUCCEEDED, etag='W/"999"') == ended
    again = rpc.EndPipelineRunRequest(name=run.name, state=Run.FAILED)
    fails(lin.EndPipelineRun, again, PRECONDITION, "PIPELINE_RUN_ENDED")
    late = rpc.RecordPipelineStepRequest(
        parent=run.name, step_id="x", step=Step(state=Step.RUNNING)
    )
    fails(lin.RecordPipelineStep, late, PRECONDITION, "PIPELINE_RUN_ENDED")
    assert get(lin, run.name) == ended

    # A step recorded again as it is stored, after the run ended: unchanged (a retry).
    other = create(lin, project)
    params = {"n": pb.ParamValue(int_value=1)}
    record(lin, other.name, "train", Step.RUNNING, params=params)
    closed = end(lin, other.name, Run.CANCELLED)
    assert record(lin, other.name, "train", Step.RUNNING, params=params) == closed
    moved = rpc.RecordPipelineStepRequest(
        parent=other.name, step_id="train", step=Step(state=Step.SUCCEEDED)
    )
    fails(lin.RecordPipelineStep, moved, PRECONDITION, "PIPELINE_RUN_ENDED")

    cancelled = end(lin, create(lin, project).name, Run.CANCELLED, error="operator stopped it")
    assert (cancelled.state, cancelled.error) == (Run.CANCELLED, "operator stopped it")
    with_error = rpc.EndPipelineRunRequest(
        name=create(lin, project).name, state=Run.SUCCEEDED, error="why"
    )
    fails(lin.EndPipelineRun, with_error, INVALID, "INVALID_ARGUMENT", "error")


def test_a_failed_step_fails_the_run_until_it_ends(lin: Any, project: str) -> None:
    run = create(lin, project)
    record(lin, run.name, "train", Step.FAILED, error="ValueError: nan loss")
    failed = record(lin, run.name, "report", Step.SKIPPED, error="train failed")
    assert (failed.state, failed.error) == (Run.FAILED, "step train: ValueError: nan loss")
    assert not failed.HasField("end_time")  # open until EndPipelineRun
    succeed = rpc.EndPipelineRunRequest(name=run.name, state=Run.SUCCEEDED)
    fails(lin.EndPipelineRun, succeed, PRECONDITION, "PIPELINE_STEP_FAILED")
    ended = end(lin, run.name, Run.FAILED, error="ignored: a step says why")
    assert (ended.state, ended.error) == (Run.FAILED, "step train: ValueError: nan loss")
    assert ended.HasField("end_time")


def test_get_and_list_validate_names(lin: Any, project: str) -> None:
    for name in ("", "projects/x", f"projects/{project}/pipelines/p/runs/R", "projects/x/runs/y"):
        fails(lin.GetPipelineRun, rpc.GetPipelineRunRequest(name=name), INVALID,
              "INVALID_ARGUMENT", "name")  # fmt: skip
    bad = rpc.ListPipelineRunsRequest(parent=f"projects/{project}/pipelines/-/x")
    fails(lin.ListPipelineRuns, bad, INVALID, "INVALID_ARGUMENT", "parent")
    fails(lin.ListPipelines, rpc.ListPipelinesRequest(parent="projects/"), INVALID,
          "INVALID_ARGUMENT", "parent")  # fmt: skip


def test_concurrent_creates_get_distinct_ids(lin: Any, project: str) -> None:
    with ThreadPoolExecutor(8) as pool:
        made = list(pool.map(lambda _: create(lin, project, "fresh"), range(16)))
    assert sorted(r.run_id for r in made) == [f"run_{n:03d}" for n in range(1, 17)]
    pipelines = lin.ListPipelines(rpc.ListPipelinesRequest(parent=f"projects/{project}"))
    assert [p.run_count for p in pipelines.pipelines] == [16]
