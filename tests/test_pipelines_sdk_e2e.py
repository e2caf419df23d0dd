"""Pipeline runs through the SDK (both clients, by the parametrised ``client`` fixture; the
AsyncClient awaited directly once) and through the ``modelreg pipelines`` command, against
the real server: the context managers record each step with what it read and made, a
failed step leaves the run FAILED with its error and no outputs."""

from __future__ import annotations

import json
from typing import Any

import pytest

import modelreg
from modelreg import (
    PipelineRunState,
    PipelineStepState,
    ResourceKind,
    ResourceRef,
)
from modelreg._cli_pipelines import duration


def data(client: modelreg.Client, project: str) -> tuple[Any, Any]:
    batch = client.create_dataset_version(
        project, "events", uri="s3://d/events-1.parquet", batch_id="2026-11-01", split="train"
    )
    holdout = client.create_dataset_version(project, "holdout", uri="s3://d/h.parquet")
    return batch, holdout


def test_a_pipeline_run_records_each_step_with_its_inputs_and_outputs(
    client: modelreg.Client, project: str
) -> None:
    batch, holdout = data(client, project)
    with client.pipeline_run(
        project, "nightly", definition_version="git:ab12cd", params={"lr": 0.1}, labels={"k": "v"}
    ) as p:
        assert p.run_id == "run_001" and p.run.state is PipelineRunState.RUNNING
        assert p.name == f"projects/{project}/pipelines/nightly/runs/run_001"
        with p.step("train", inputs=[(batch, "train")], params={"epochs": 3}) as s:
            assert s.name == f"{p.name}/steps/train"
            assert p.run.step("train").state is PipelineStepState.RUNNING
            s.add_input(holdout.resource_name, role="validation")
            v = s.register_model_version("detector", artifact_uri="s3://m/1.pt")
        with p.step("validate", inputs=[v]) as s:
            e = s.log_evaluation(v, dataset=holdout, metrics={"f1": 0.91})
        p.skip("deploy", reason="f1 below 0.95")
    run = client.get_pipeline_run(project, "nightly", "run_001")
    assert run == p.run
    assert (run.state, run.error, run.definition_version) == (
        PipelineRunState.SUCCEEDED, "", "git:ab12cd",
    )  # fmt: skip
    assert (dict(run.params), dict(run.labels), run.created_by) == (
        {"lr": 0.1},
        {"k": "v"},
        "tester",
    )
    assert run.end_time is not None and run.duration_s is not None
    assert [(s.step_id, s.state, s.position) for s in run.steps] == [
        ("train", PipelineStepState.SUCCEEDED, 0),
        ("validate", PipelineStepState.SUCCEEDED, 1),
        ("deploy", PipelineStepState.SKIPPED, 2),
    ]
    train, validate, deploy = run.steps
    assert train.inputs == (
        ResourceRef(batch.resource_name, ResourceKind.BATCH, "train"),
        ResourceRef(holdout.resource_name, ResourceKind.DATASET_VERSION, "validation"),
    )
    assert train.outputs == (ResourceRef(v.resource_name, ResourceKind.MODEL_VERSION, "model"),)
    assert dict(train.params) == {"epochs": 3}
    assert train.start_time is not None and train.end_time is not None
    assert train.start_time <= train.end_time
    # The version learned from the step's dataset version inputs, by their roles.
    assert [(d.dataset_version, d.role) for d in v.training_data] == [
        (batch.resource_name, modelreg.DataRole.TRAIN),
        (holdout.resource_name, modelreg.DataRole.VALIDATION),
    ]
    # log_evaluation adds what it read to the inputs.
    assert [(r.name, r.role) for r in validate.inputs] == [
        (v.resource_name, ""),
        (holdout.resource_name, "evaluation"),
    ]
    assert validate.outputs == (
        ResourceRef(e.resource_name, ResourceKind.EVALUATION, "evaluation"),
    )
    assert (deploy.error, deploy.outputs, deploy.end_time is not None) == (
        "f1 below 0.95", (), True,
    )  # fmt: skip

    (pipeline,) = client.list_pipelines(project)
    assert (pipeline.name, pipeline.run_count, pipeline.latest_run) == (
        "nightly", 1, run.resource_name,
    )  # fmt: skip
    assert pipeline.resource_name == f"projects/{project}/pipelines/nightly"
    assert list(client.list_pipeline_runs(project)) == [run]
    assert list(client.list_pipeline_runs(project, "nightly")) == [run]
    with pytest.raises(modelreg.NotFoundError):
        list(client.list_pipeline_runs(project, "other"))
    assert list(client.list_pipeline_runs(project, filter='definition_version = "git:x"')) == []


def test_an_exception_in_a_step_fails_the_step_and_the_run_with_no_outputs(
    client: modelreg.Client, project: str
) -> None:
    batch, _ = data(client, project)
    with pytest.raises(ValueError, match="loss diverged"):  # noqa: SIM117
        with client.pipeline_run(project, "nightly", run_id="r1") as p:
            with p.step("train", inputs=[batch]) as s:
                v = s.register_model_version("detector", artifact_uri="s3://m/1.pt")
                s.add_output(batch.resource_name.replace("events", "other"), role="never")
                raise ValueError("loss diverged")
    run = client.get_pipeline_run(project, "nightly", "r1")
    assert run.state is PipelineRunState.FAILED
    assert run.error == "step train: ValueError: loss diverged"
    (train,) = run.steps
    assert (train.state, train.error, train.outputs) == (
        PipelineStepState.FAILED, "ValueError: loss diverged", (),
    )  # fmt: skip
    assert [r.name for r in train.inputs] == [batch.resource_name]
    assert train.end_time is not None
    # The version exists (it was registered), but the failed step does not claim it.
    assert client.get_model_version(project, "detector", 1) == v


def test_a_failed_step_the_block_swallowed_still_fails_the_run(
    client: modelreg.Client, project: str
) -> None:
    with client.pipeline_run(project, "nightly") as p:
        try:
            with p.step("flaky"):
                raise RuntimeError("no GPU")
        except RuntimeError:
            pass
        with p.step("fallback") as s:
            s.add_output(s.register_model_version("m", artifact_uri="s3://m/cpu.pt"))
    assert p.run.state is PipelineRunState.FAILED
    assert p.run.error == "step flaky: RuntimeError: no GPU"
    assert [s.state for s in p.run.steps] == [PipelineStepState.FAILED, PipelineStepState.SUCCEEDED]


def test_an_exception_outside_the_steps_fails_the_run_with_it(
    client: modelreg.Client, project: str
) -> None:
    with pytest.raises(KeyError), client.pipeline_run(project, "nightly") as p:
        with p.step("a"):
            pass
        raise KeyError("config")
    run = client.get_pipeline_run(project, "nightly", p.run_id)
    assert (run.state, run.error) == (PipelineRunState.FAILED, "KeyError: 'config'")
    assert run.steps[0].state is PipelineStepState.SUCCEEDED


def test_an_interruption_cancels_the_run(client: modelreg.Client, project: str) -> None:
    with pytest.raises(KeyboardInterrupt), client.pipeline_run(project, "nightly") as p:
        with p.step("a"):
            pass
        raise KeyboardInterrupt
    assert (p.run.state, p.run.error) == (PipelineRunState.CANCELLED, "KeyboardInterrupt")
    with pytest.raises(KeyboardInterrupt), client.pipeline_run(project, "nightly") as p:  # noqa: SIM117
        with p.step("a"):
            raise KeyboardInterrupt
    assert p.run.state is PipelineRunState.FAILED
    assert p.run.step("a").error == "KeyboardInterrupt"


def test_outputs_the_server_refuses_fail_the_step_and_nothing_is_recorded(
    client: modelreg.Client, project: str
) -> None:
    batch, holdout = data(client, project)
    with pytest.raises(modelreg.InvalidArgumentError) as info:  # noqa: SIM117
        with client.pipeline_run(project, "nightly") as p:
            with p.step("clean", inputs=[batch]) as s:
                s.add_output(holdout)
                s.add_output(batch)  # an output may not be one of the inputs
    assert info.value.reason == "LINEAGE_CYCLE"
    assert info.value.field == "step.outputs[1]"
    (step,) = p.run.steps
    assert (step.state, step.outputs) == (PipelineStepState.FAILED, ())
    assert "LINEAGE_CYCLE" in step.error or "InvalidArgumentError" in step.error
    assert p.run.state is PipelineRunState.FAILED


def test_the_context_objects_refuse_misuse(client: modelreg.Client, project: str) -> None:
    p = client.pipeline_run(project, "nightly")
    with pytest.raises(RuntimeError, match="enter the pipeline run first"):
        p.step("a")
    with p:
        s = p.step("a")
        with pytest.raises(RuntimeError, match="inside its 'with' block"):
            s.add_output("projects/x/runs/y")
        with s:
            with pytest.raises(ValueError, match="resource name"):
                s.add_output("not-a-name")
            with pytest.raises(TypeError):
                s.add_output(42)
    assert p.run.state is PipelineRunState.SUCCEEDED
    with pytest.raises(RuntimeError, match="has ended"):
        p.skip("late")


def test_low_level_calls(client: modelreg.Client, project: str) -> None:
    batch, _ = data(client, project)
    run = client.create_pipeline_run(
        project, "etl", run_id="r1", definition_version="v1", description="by hand"
    )
    assert (run.run_id, run.state, run.steps, run.end_time) == (
        "r1", PipelineRunState.RUNNING, (), None,
    )  # fmt: skip
    run = client.record_pipeline_step(
        project, "etl", "r1", "load", state="running", inputs=[batch], request_id="load-1"
    )
    assert run.step("load").state is PipelineStepState.RUNNING
    v = client.register_model_version(project, "m", artifact_uri="s3://m/1.pt")
    run = client.record_pipeline_step(
        project,
        "etl",
        "r1",
        "load",
        state=PipelineStepState.SUCCEEDED,
        inputs=[batch],
        outputs=[ResourceRef(v.resource_name, role="model")],
    )
    assert run.step("load").outputs == (
        ResourceRef(v.resource_name, ResourceKind.MODEL_VERSION, "model"),
    )
    with pytest.raises(modelreg.FailedPreconditionError) as info:
        client.record_pipeline_step(project, "etl", "r1", "load", state="running")
    assert info.value.reason == "STEP_ENDED"
    client.record_pipeline_step(project, "etl", "r1", "check", state="failed", error="bad rows")
    with pytest.raises(modelreg.FailedPreconditionError) as info:
        client.end_pipeline_run(project, "etl", "r1")
    assert info.value.reason == "PIPELINE_STEP_FAILED"
    ended = client.end_pipeline_run(project, "etl", "r1", "FAILED", error="see step check")
    assert (ended.state, ended.error) == (PipelineRunState.FAILED, "step check: bad rows")
    assert client.end_pipeline_run(project, "etl", "r1", PipelineRunState.FAILED) == ended
    with pytest.raises(modelreg.NotFoundError):
        client.get_pipeline_run(project, "etl", "nosuch")


async def test_async_client(aclient: modelreg.AsyncClient, project: str) -> None:
    batch = await aclient.create_dataset_version(project, "d", uri="s3://d", batch_id="b1")
    async with aclient.pipeline_run(project, "nightly", definition_version="git:1") as p:
        async with p.step("train", inputs=[batch]) as s:
            v = await s.register_model_version("m", artifact_uri="s3://m/1.pt")
        async with p.step("validate", inputs=[v]) as s:
            await s.log_evaluation(v, dataset=batch, metrics={"acc": 0.5})
        with pytest.raises(ZeroDivisionError):
            async with p.step("explode"):
                _ = 1 / 0
    assert isinstance(p, modelreg.AsyncActivePipelineRun)
    run = await p.get()
    assert run.state is PipelineRunState.FAILED
    assert run.error == "step explode: ZeroDivisionError: division by zero"
    assert [s.step_id for s in run.steps] == ["train", "validate", "explode"]
    runs = [r async for r in aclient.list_pipeline_runs(project, "nightly")]
    assert runs == [run]


# The CLI


def test_cli(cli: Any, sync_client: modelreg.Client, project: str) -> None:
    batch, holdout = data(sync_client, project)
    for definition in ("git:aaa", "git:bbb"):
        with sync_client.pipeline_run(project, "nightly", definition_version=definition) as p:
            with p.step("train", inputs=[batch]) as s:
                v = s.register_model_version("m", artifact_uri="s3://m.pt")
            with p.step("validate", inputs=[v]) as s:
                s.log_evaluation(v, dataset=holdout, metrics={"f1": 0.9})
            p.skip("deploy", reason="not tonight")
    with pytest.raises(ValueError), sync_client.pipeline_run(project, "weekly") as p:
        raise ValueError("boom")

    code, out, err = cli("pipelines", "list", project)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["PIPELINE", "RUNS", "LATEST_RUN", "CREATED", "UPDATED"]
    assert [line.split()[:3] for line in lines[1:]] == [
        ["nightly", "2", "run_002"],
        ["weekly", "1", "run_001"],
    ]

    code, out, err = cli("pipelines", "runs", project, "nightly")
    assert (code, err) == (0, "")
    header, *rows = out.splitlines()
    assert header.split() == [
        "PIPELINE", "RUN", "DEFINITION", "STATE", "STARTED", "DURATION", "STEPS",
    ]  # fmt: skip
    assert [r.split()[:4] for r in rows] == [
        ["nightly", "run_001", "git:aaa", "SUCCEEDED"],
        ["nightly", "run_002", "git:bbb", "SUCCEEDED"],
    ]
    steps = rows[0].split()[6:]
    assert [s.partition("(")[0] for s in steps] == [
        "train:SUCCEEDED", "validate:SUCCEEDED", "deploy:SKIPPED",
    ]  # fmt: skip

    code, out, _ = cli("pipelines", "runs", project, "--filter", 'state = "FAILED"')
    assert [r.split()[:4] for r in out.splitlines()[1:]] == [["weekly", "run_001", "-", "FAILED"]]
    code, out, _ = cli("--json", "pipelines", "runs", project, "--order-by", "start_time desc")
    assert [r["pipeline"] for r in json.loads(out)] == ["weekly", "nightly", "nightly"]

    name = f"projects/{project}/pipelines/nightly/runs/run_002"
    code, out, err = cli("pipelines", "show", name)
    assert (code, err) == (0, "")
    assert f"name: {name}" in out and "definition_version: git:bbb" in out
    assert "step 0 train: SUCCEEDED" in out and "step 2 deploy: SKIPPED" in out
    assert "  error: not tonight" in out
    ins = [line.split() for line in out.splitlines() if line.startswith("  in ")]
    outs = [line.split() for line in out.splitlines() if line.startswith("  out ")]
    assert ["in", "BATCH", batch.resource_name, "-"] in ins
    assert ["out", "MODEL_VERSION", f"projects/{project}/models/m/versions/2", "model"] in outs
    assert any(o[1] == "EVALUATION" for o in outs)
    code, out, _ = cli("--json", "pipelines", "show", name)
    assert json.loads(out)["steps"][0]["outputs"][0]["kind"] == "MODEL_VERSION"

    code, _, err = cli("pipelines", "show", f"projects/{project}/pipelines/nightly/runs/nosuch")
    assert code == 1 and err.startswith("error: NOT_FOUND")
    with pytest.raises(SystemExit, match="expected a pipeline run's name"):
        cli("pipelines", "show", "nightly")


def test_duration_cells() -> None:
    assert [duration(s) for s in (None, 0.351, 12.44, 185, 7260)] == [
        "-", "0.35s", "12.4s", "3m05s", "2h01m",
    ]  # fmt: skip
