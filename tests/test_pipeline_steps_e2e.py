"""Pipeline steps end to end over gRPC: a step's lifecycle with its typed inputs
and outputs (kinds inferred, aliases stored as numbers), ended steps, a failed
step; bad references name their field and write nothing; outputs that would
close a cycle in the lineage are refused (directly, through earlier steps, and
through other resources)."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

import modelreg
from modelreg.api.v1 import resources_pb2 as pb
from tests.conftest import unique
from tests.pipeline_support import Step, create, fails, get, record, ref, step_request
from tests.support import insert_run, sql

Run = pb.PipelineRun
K = pb.ResourceKind
INVALID = grpc.StatusCode.INVALID_ARGUMENT


@pytest.fixture
def lin(sync_client: modelreg.Client) -> Any:
    return sync_client.lineage_stub


@pytest.fixture
def world(sync_client: modelreg.Client, project: str, database_url: str) -> dict[str, str]:
    """A batch, a test set, a run, a version trained on the batch (aliased
    `production`), its evaluation and a deployment: their resource names."""
    c, p = sync_client, project
    batch = c.create_dataset_version(
        p, "clicks", version="b1", uri="s3://d/b1", batch_id="2024-11-06"
    )
    test = c.create_dataset_version(p, "holdout", version="v1", uri="s3://d/t")
    v1 = c.register_model_version(p, "m", artifact_uri="s3://m/1", training_data=[batch])
    c.set_alias(p, "m", "production", 1)
    ev = c.log_evaluation(v1.resource_name, dataset=test, metrics={"acc": 0.9}, evaluation_id="e1")
    c.create_deployment(p, "prod", model="m", traffic={1: 100})
    return {
        "batch": batch.resource_name,
        "test": test.resource_name,
        "run": insert_run(database_url, p, "r1"),
        "v1": v1.resource_name,
        "alias": f"projects/{p}/models/m/versions/production",
        "eval": ev.resource_name,
        "deployment": f"projects/{p}/deployments/prod",
    }


def _refs(items: Any) -> list[tuple[str, int, str]]:
    return [(r.name, r.kind, r.role) for r in items]


def _rows(database_url: str, project: str) -> tuple[int, int]:
    """(steps, step references) of the project's pipeline runs."""
    row = sql(
        database_url,
        "SELECT count(DISTINCT s.id), count(f.step_id) FROM pipeline_steps s "
        "JOIN pipeline_runs r ON r.id = s.pipeline_run_id JOIN projects p ON p.id = r.project_id "
        "LEFT JOIN pipeline_step_refs f ON f.step_id = s.id WHERE p.name = $1",
        project,
    )[0]
    return row[0], row[1]


def test_step_lifecycle(lin: Any, project: str, world: dict[str, str]) -> None:
    run = create(lin, project)
    pending = record(lin, run.name, "train", Step.PENDING)
    [train] = pending.steps
    assert (train.name, train.step_id, train.state, train.position) == (
        f"{run.name}/steps/train", "train", Step.PENDING, 0,
    )  # fmt: skip
    assert not train.HasField("start_time") and pending.etag != run.etag
    inputs = [
        ref(world["batch"], role="train"),
        ref(world["test"], K.RESOURCE_KIND_DATASET_VERSION),
    ]
    running = record(lin, run.name, "train", Step.RUNNING, inputs,
                     params={"lr": pb.ParamValue(float_value=0.5)})  # fmt: skip
    [train] = running.steps
    assert train.state == Step.RUNNING and train.HasField("start_time")
    assert not train.HasField("end_time") and train.params["lr"].float_value == 0.5
    assert _refs(train.inputs) == [
        (world["batch"], K.RESOURCE_KIND_BATCH, "train"),
        (world["test"], K.RESOURCE_KIND_DATASET_VERSION, ""),
    ]
    outputs = [ref(world["alias"], K.RESOURCE_KIND_MODEL_VERSION, "model"), world["run"]]
    done = record(lin, run.name, "train", Step.SUCCEEDED, inputs, outputs)
    [train] = done.steps
    assert train.state == Step.SUCCEEDED and train.HasField("end_time")
    assert train.start_time == running.steps[0].start_time  # kept from when it started
    assert not train.params  # a record replaces the step whole
    assert _refs(train.outputs) == [
        (world["v1"], K.RESOURCE_KIND_MODEL_VERSION, "model"),  # the alias, as its number
        (world["run"], K.RESOURCE_KIND_RUN, ""),
    ]
    validate = record(lin, run.name, "validate", Step.SUCCEEDED, [world["v1"], world["test"]],
                      [world["eval"], world["deployment"]])  # fmt: skip
    assert [(s.step_id, s.position) for s in validate.steps] == [("train", 0), ("validate", 1)]
    assert _refs(validate.steps[1].outputs) == [
        (world["eval"], K.RESOURCE_KIND_EVALUATION, ""),
        (world["deployment"], K.RESOURCE_KIND_DEPLOYMENT, ""),
    ]
    assert get(lin, run.name) == validate
    # Recording exactly what is stored changes nothing (a retry without a request_id).
    assert record(lin, run.name, "train", Step.SUCCEEDED, inputs, outputs) == validate
    changed = step_request(run.name, "train", Step.SUCCEEDED, inputs, outputs[:1])
    fails(lin.RecordPipelineStep, changed, grpc.StatusCode.FAILED_PRECONDITION, "STEP_ENDED")
    assert get(lin, run.name) == validate


def test_given_times_and_skipped_steps(lin: Any, project: str) -> None:
    run = create(lin, project)
    start = pb.PipelineStep().start_time
    start.FromJsonString("2026-01-02T03:04:05.123456Z")
    end = pb.PipelineStep().end_time
    end.FromJsonString("2026-01-02T03:05:00Z")
    made = record(lin, run.name, "load", Step.SUCCEEDED, start_time=start, end_time=end)
    assert (made.steps[0].start_time, made.steps[0].end_time) == (start, end)
    skipped = record(lin, run.name, "deploy", Step.SKIPPED, error="not better")
    assert (skipped.steps[1].error, skipped.state) == ("not better", Run.RUNNING)
    backwards = step_request(run.name, "x", Step.SUCCEEDED, start_time=end, end_time=start)
    fails(lin.RecordPipelineStep, backwards, INVALID, "INVALID_ARGUMENT", "step.end_time")


@pytest.mark.parametrize(
    ("field", "when"),
    [
        ("start_time", "0001-01-01T00:00:00Z"),  # the driver's -infinity
        ("end_time", "9999-12-31T23:59:59.999999999Z"),  # its infinity (nanos cut)
        ("start_time", "9999-12-31T23:59:59.999999Z"),
    ],
)
def test_the_calendars_first_and_last_microsecond_are_out_of_range(
    lin: Any, project: str, database_url: str, field: str, when: str
) -> None:
    """They were stored as -infinity/infinity and reading the run back was INTERNAL."""
    run = create(lin, project)
    edge = pb.PipelineStep().start_time
    edge.FromJsonString(when)
    request = step_request(run.name, "load", Step.SUCCEEDED, **{field: edge})
    fails(lin.RecordPipelineStep, request, INVALID, "INVALID_ARGUMENT", f"step.{field}")
    assert _rows(database_url, project) == (0, 0)
    assert get(lin, run.name).steps == []
    first = pb.PipelineStep().start_time
    first.FromJsonString("0001-01-01T00:00:00.000001Z")
    made = record(lin, run.name, "load", Step.RUNNING, start_time=first)
    assert made.steps[0].start_time == first


def test_a_failed_step_records_no_outputs(
    lin: Any, project: str, world: dict[str, str], database_url: str
) -> None:
    run = create(lin, project)
    record(lin, run.name, "train", Step.RUNNING, [world["batch"]])
    half = step_request(run.name, "train", Step.FAILED, [world["batch"]], [world["v1"]],
                        error="boom")  # fmt: skip
    fails(lin.RecordPipelineStep, half, INVALID, "INVALID_ARGUMENT", "step.outputs")
    assert get(lin, run.name).state == Run.RUNNING
    failed = record(lin, run.name, "train", Step.FAILED, [world["batch"]], error="OOM: 12 GiB")
    assert (failed.state, failed.error) == (Run.FAILED, "step train: OOM: 12 GiB")
    [train] = failed.steps
    assert (train.state, train.error, list(train.outputs)) == (Step.FAILED, "OOM: 12 GiB", [])
    assert _rows(database_url, project) == (1, 1)  # the step and its one input
    # A second failure keeps the first one's error.
    second = record(lin, run.name, "eval", Step.FAILED, error="later")
    assert second.error == "step train: OOM: 12 GiB"


@pytest.mark.parametrize(
    ("inputs", "outputs", "field"),
    [
        (["batch", "projects/x/widgets/1"], [], "step.inputs[1]"),
        (["batch"], ["projects/{p}/models/m/versions/9"], "step.outputs[0]"),
        (["projects/{p}/datasets/clicks/versions/b2"], [], "step.inputs[0]"),
        (["projects/{p}/models/m/versions/staging"], [], "step.inputs[0]"),
        (["projects/{p}/pipelines/nightly/runs/run_001"], [], "step.inputs[0]"),
        (["projects/{p}/deployments/prod/windows/2026-01-01"], [], "step.inputs[0]"),
        ([("test", K.RESOURCE_KIND_BATCH)], [], "step.inputs[0].kind"),
        ([("v1", K.RESOURCE_KIND_RUN)], [], "step.inputs[0].kind"),
        ([("v1", 99)], [], "step.inputs[0].kind"),
        ([""], [], "step.inputs[0]"),
        ([("batch", 0, "r" * 65)], [], "step.inputs[0].role"),
    ],
)
def test_bad_references_name_their_field_and_write_nothing(
    lin: Any,
    project: str,
    world: dict[str, str],
    database_url: str,
    inputs: list[Any],
    outputs: list[Any],
    field: str,
) -> None:
    run = create(lin, project)
    before = record(lin, run.name, "train", Step.RUNNING, [world["batch"]])

    def named(item: Any) -> pb.ResourceRef:
        name, kind, role = (item, 0, "") if isinstance(item, str) else (*item, "")[:3]
        return ref(world.get(name, name.format(p=project)), kind, role)

    request = step_request(run.name, "train", Step.SUCCEEDED, map(named, inputs),
                           map(named, outputs))  # fmt: skip
    fails(lin.RecordPipelineStep, request, INVALID, "INVALID_ARGUMENT", field)
    assert get(lin, run.name) == before
    assert _rows(database_url, project) == (1, 1)


def test_step_request_checks(lin: Any, project: str) -> None:
    run = create(lin, project)
    cases = [
        (step_request(run.name, "", Step.RUNNING), "step_id"),
        (step_request(run.name, "Train", Step.RUNNING), "step_id"),
        (step_request(run.name, "t", Step.STATE_UNSPECIFIED), "step.state"),
        (step_request(run.name, "t", 42), "step.state"),
        (step_request(run.name, "t", Step.SUCCEEDED, error="x"), "step.error"),
        (step_request(run.name, "t", Step.FAILED, error="x" * 10_001), "step.error"),
        (step_request(run.name, "t", Step.RUNNING, end_time=run.start_time), "step.end_time"),
        (
            step_request(run.name, "t", Step.RUNNING, params={"": pb.ParamValue()}),
            "step.params['']",
        ),
        (step_request(f"{run.name}x/y", "t", Step.RUNNING), "parent"),
        (step_request(run.name, "t", Step.RUNNING, ["x"] * 1001), "step.inputs"),
    ]
    for request, field in cases:
        fails(lin.RecordPipelineStep, request, INVALID, "INVALID_ARGUMENT", field)
    missing = step_request(f"projects/{project}/pipelines/nightly/runs/nope", "t", Step.RUNNING)
    fails(lin.RecordPipelineStep, missing, grpc.StatusCode.NOT_FOUND, "NOT_FOUND")
    assert get(lin, run.name) == run


def _cycle(lin: Any, run: str, inputs: list[str], outputs: list[str], field: str) -> None:
    request = step_request(run, unique("s").lower(), Step.SUCCEEDED, inputs, outputs)
    message = fails(lin.RecordPipelineStep, request, INVALID, "LINEAGE_CYCLE", field)
    assert "cycle" in message


def test_cycles_are_refused(
    lin: Any, project: str, world: dict[str, str], database_url: str
) -> None:
    run = create(lin, project).name
    w = world
    # An output that is an input.
    _cycle(lin, run, [w["test"], w["batch"]], [w["v1"], w["batch"]], "step.outputs[1]")
    # Through other resources: the batch is upstream of the version (TRAINED), and
    # of its evaluation (TRAINED, EVALUATED).
    _cycle(lin, run, [w["v1"]], [w["batch"]], "step.outputs[0]")
    _cycle(lin, run, [w["eval"]], [w["run"], w["alias"]], "step.outputs[1]")
    # Through earlier steps: a makes the run from the test set; b may not make the
    # test set from the run.
    record(lin, run, "a", Step.SUCCEEDED, [w["test"]], [w["run"]])
    _cycle(lin, run, [w["run"]], [w["test"]], "step.outputs[0]")
    # The deployment serves the version: downstream of it, so a fine output.
    fine = record(lin, run, "c", Step.SUCCEEDED, [w["v1"]], [w["deployment"]])
    assert [s.step_id for s in fine.steps] == ["a", "c"]
    # ... but not an input of a step making the version.
    _cycle(lin, run, [w["deployment"]], [w["v1"]], "step.outputs[0]")
    assert get(lin, run) == fine
    assert _rows(database_url, project) == (2, 4)


def test_references_to_deleted_resources_are_left_out(
    lin: Any, sync_client: modelreg.Client, project: str, world: dict[str, str]
) -> None:
    other = unique("proj")
    sync_client.create_project(other)
    gone = sync_client.register_model_version(other, "m", artifact_uri="s3://o/1")
    run = create(lin, project)
    made = record(lin, run.name, "use", Step.SUCCEEDED, [gone.resource_name, world["batch"]])
    assert len(made.steps[0].inputs) == 2
    sync_client.delete_project(other, force=True)
    assert _refs(get(lin, run.name).steps[0].inputs) == [
        (world["batch"], K.RESOURCE_KIND_BATCH, "")
    ]
