"""Experiment tracking end to end over gRPC through the SDK: dataset versions, runs with
params and metric series, versions registered from runs, evaluations, compare and rank.
Every test runs against Client and AsyncClient (the ``client`` fixture)."""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone

import pytest

import modelreg
from modelreg import DataRole, Goal, RunState

DIGEST = "sha256:" + "ab" * 32
# A reference to a dataset version that does not exist: the contract says it "must exist"
# (INVALID_ARGUMENT naming the field for DataRef; unspecified for parents and evaluations).
MISSING_REFERENCE = (modelreg.InvalidArgumentError, modelreg.NotFoundError)


def dv_name(project: str, dataset: str, version: str) -> str:
    return f"projects/{project}/datasets/{dataset}/versions/{version}"


# Dataset versions


def test_dataset_versions(client: modelreg.Client, project: str) -> None:
    v1 = client.create_dataset_version(
        project,
        "train",
        uri="s3://d/train-1.parquet",
        digest=DIGEST,
        row_count=1000,
        schema={"kr": "string", "en": "string"},
        split="train",
        description="first crawl",
    )
    assert (v1.project, v1.dataset, v1.version) == (project, "train", "v1")
    assert v1.resource_name == dv_name(project, "train", "v1")
    assert (v1.uri, v1.digest, v1.row_count, v1.split) == (
        "s3://d/train-1.parquet",
        DIGEST,
        1000,
        "train",
    )
    assert v1.schema == {"en": "string", "kr": "string"}
    assert (v1.created_by, v1.data_start_time, v1.parents) == ("tester", None, ())
    v2 = client.create_dataset_version(project, "train", uri="s3://d/train-2.parquet")
    assert (v2.version, v2.row_count, v2.schema) == ("v2", None, None)

    start = datetime(2024, 11, 6, tzinfo=timezone.utc)
    batch = client.create_dataset_version(
        project,
        "train",
        uri="s3://d/batch.parquet",
        version="2024-11-06",
        batch_id="2024-11-06",
        data_start_time=start,
        data_end_time=start + timedelta(days=1),
        parents=[v2, v1.resource_name],
        labels={"team": "nlp"},
    )
    assert batch.version == "2024-11-06"
    assert batch.parents == (v2.resource_name, v1.resource_name)
    assert (batch.data_start_time, batch.data_end_time) == (start, start + timedelta(days=1))
    assert batch.labels == {"team": "nlp"}

    with pytest.raises(modelreg.AlreadyExistsError):
        client.create_dataset_version(project, "train", uri="s3://other", version="v1")
    test = client.create_dataset_version(project, "test", uri="s3://d/test.parquet", split="test")
    assert test.version == "v1"

    listed = list(client.list_dataset_versions(project, "train"))
    assert [v.version for v in listed] == ["v1", "v2", "2024-11-06"]
    assert listed[0] == v1
    assert [v.version for v in client.list_dataset_versions(project, "train", page_size=1)] == [
        "v1",
        "v2",
        "2024-11-06",
    ]
    every = list(client.list_dataset_versions(project))
    assert sorted(v.resource_name for v in every) == sorted(
        v.resource_name for v in (v1, v2, batch, test)
    )
    only = client.list_dataset_versions(project, filter='batch_id = "2024-11-06"')
    assert [v.resource_name for v in only] == [batch.resource_name]
    split = client.list_dataset_versions(project, filter='split = "test"')
    assert [v.resource_name for v in split] == [test.resource_name]

    assert client.get_dataset_version(project, "train", "v1") == v1
    with pytest.raises(modelreg.NotFoundError):
        client.get_dataset_version(project, "train", "v9")
    datasets = list(client.list_datasets(project))
    assert [(d.name, d.version_count) for d in datasets] == [("test", 1), ("train", 3)]
    assert client.get_dataset(project, "train") == datasets[1]
    assert datasets[1].resource_name == f"projects/{project}/datasets/train"


def test_dataset_version_request_id_retry_returns_the_first(
    client: modelreg.Client, project: str
) -> None:
    first = client.create_dataset_version(project, "d", uri="s3://x", request_id="dv-1")
    again = client.create_dataset_version(project, "d", uri="s3://x", request_id="dv-1")
    assert first == again and first.version == "v1"
    assert [v.version for v in client.list_dataset_versions(project, "d")] == ["v1"]


def test_dataset_version_bad_input_names_the_field(client: modelreg.Client, project: str) -> None:
    with pytest.raises(modelreg.InvalidArgumentError) as info:
        client.create_dataset_version(project, "d", uri="s3://x", digest="md5-nope")
    assert "digest" in (info.value.field or info.value.details)
    with pytest.raises(MISSING_REFERENCE):
        missing = dv_name(project, "d", "x")
        client.create_dataset_version(project, "d", uri="s3://x", parents=[missing])
    with pytest.raises(modelreg.NotFoundError):
        client.create_dataset_version("no_such_project_x", "d", uri="s3://x")


# Runs


def test_run_lifecycle(client: modelreg.Client, project: str) -> None:
    train = client.create_dataset_version(project, "train", uri="s3://d/train.parquet")
    test = client.create_dataset_version(project, "test", uri="s3://d/test.parquet")
    code = modelreg.CodeVersion("https://example.com/mt.git", "abc123", dirty=True)
    with client.start_run(
        project,
        experiment="lr-sweep",
        params={"lr": 0.01, "epochs": 10, "fp16": True, "optimizer": "adamw"},
        inputs=[train, (test.resource_name, "test")],
        code_version=code,
        labels={"team": "nlp"},
        description="first try",
    ) as run:
        assert re.fullmatch(r"run_\d{3}", run.run_id)
        assert run.name == f"projects/{project}/runs/{run.run_id}" and run.project == project
        running = run.get()
        assert (running.state, running.end_time) == (RunState.RUNNING, None)
        run.log_metrics({"loss": 0.9, "bleu": 10.0})
        run.log_metrics({"loss": 0.5, "bleu": 25.5})
        run.log_metric("loss", 0.42, step=7)
        run.log_params({"warmup": 100})
    done = client.get_run(project, run.run_id)
    assert done.state is RunState.SUCCEEDED
    assert done.end_time is not None and done.end_time >= done.start_time
    assert done.params == {
        "lr": 0.01,
        "epochs": 10,
        "fp16": True,
        "optimizer": "adamw",
        "warmup": 100,
    }
    assert [(i.dataset_version, i.dataset, i.version, i.role) for i in done.inputs] == [
        (train.resource_name, "train", "v1", DataRole.TRAIN),
        (test.resource_name, "test", "v1", DataRole.TEST),
    ]
    assert (done.code_version, done.labels, done.experiment) == (code, {"team": "nlp"}, "lr-sweep")
    assert (done.description, done.created_by, done.outputs) == ("first try", "tester", ())
    latest = {k: (m.value, m.step) for k, m in done.latest_metrics.items()}
    assert latest == {"loss": (0.42, 7), "bleu": (25.5, 1)}

    updated = client.update_run(project, run.run_id, description="kept", labels={"team": "mt"})
    assert (updated.description, updated.labels) == ("kept", {"team": "mt"})
    assert updated.etag != done.etag
    with pytest.raises(modelreg.ConflictError):
        client.update_run(project, run.run_id, description="x", etag=done.etag)
    with pytest.raises(modelreg.FailedPreconditionError) as info:
        client.log_run_data(project, run.run_id, metrics={"loss": 0.1})
    assert info.value.reason == "RUN_ENDED"


def test_a_block_that_raises_fails_the_run_and_keeps_its_metrics(
    client: modelreg.Client, project: str
) -> None:
    boom = RuntimeError("diverged")
    with pytest.raises(RuntimeError) as info, client.start_run(project, run_id="doomed") as run:
        run.log_metrics({"loss": 3.0}, step=1)
        raise boom
    assert info.value is boom
    failed = client.get_run(project, "doomed")
    assert failed.state is RunState.FAILED and failed.end_time is not None
    assert failed.latest_metrics["loss"].value == 3.0
    with pytest.raises(modelreg.AlreadyExistsError), client.start_run(project, run_id="doomed"):
        pass


def test_end_states(client: modelreg.Client, project: str) -> None:
    with client.start_run(project, run_id="stopped") as run:
        ended = run.end(RunState.CANCELLED)
        assert ended.state is RunState.CANCELLED
    assert client.get_run(project, "stopped").state is RunState.CANCELLED
    again = client.end_run(project, "stopped", "CANCELLED")  # the same state: unchanged
    assert again.state is RunState.CANCELLED and again.end_time == ended.end_time
    with pytest.raises(modelreg.FailedPreconditionError):
        client.end_run(project, "stopped", RunState.SUCCEEDED)
    with pytest.raises(modelreg.NotFoundError):
        client.get_run(project, "never")


def test_metric_history_pages_by_step_and_keeps_nan_and_infinities(
    client: modelreg.Client, project: str
) -> None:
    with client.start_run(project) as run:
        for step in reversed(range(250)):
            run.log_metrics({"loss": step / 100}, step=step)
        run.log_metrics({"odd": math.nan}, step=0)
        run.log_metrics({"odd": math.inf})
        run.log_metrics({"odd": -math.inf})
        run.log_metrics({"odd": -0.0})
        run.log_metrics({"odd": 5e-324})  # the smallest subnormal
    history = list(client.metric_history(project, run.run_id, "loss", page_size=40))
    assert [m.step for m in history] == list(range(250))
    assert [m.value for m in history] == [s / 100 for s in range(250)]
    assert all(m.key == "loss" and m.time is not None for m in history)
    assert list(client.metric_history(project, run.run_id, "loss")) == history

    odd = list(client.metric_history(project, run.run_id, "odd"))
    assert [m.step for m in odd] == [0, 1, 2, 3, 4]
    assert math.isnan(odd[0].value)
    assert odd[1].value == math.inf and odd[2].value == -math.inf
    assert math.copysign(1.0, odd[3].value) == -1.0 and odd[4].value == 5e-324
    assert client.get_run(project, run.run_id).latest_metrics["odd"].value == 5e-324
    assert list(client.metric_history(project, run.run_id, "never_logged")) == []


def test_one_hundred_thousand_points_arrive_complete_and_ordered_by_step(
    client: modelreg.Client, project: str
) -> None:
    keys = [f"m{k}" for k in range(10)]
    with client.start_run(project, flush_every_s=0.2) as run:
        for i in range(10_000):
            step = i * 7919 % 10_000  # every step once, out of order
            run.log_metrics({key: step + k / 10 for k, key in enumerate(keys)}, step=step)
    total = 0
    for k, key in enumerate(keys):
        history = list(client.metric_history(project, run.run_id, key))
        assert [m.step for m in history] == list(range(10_000)), key
        assert [m.value for m in history] == [s + k / 10 for s in range(10_000)], key
        total += len(history)
    assert total == 100_000
    latest = client.get_run(project, run.run_id).latest_metrics
    assert {key: m.step for key, m in latest.items()} == dict.fromkeys(keys, 9_999)


def test_log_run_data_retried_with_its_request_id_appends_once(
    client: modelreg.Client, project: str
) -> None:
    with client.start_run(project, params={"lr": 0.01}) as run:
        for _ in range(3):
            client.log_run_data(
                project,
                run.run_id,
                metrics={"loss": 1.0, "acc": 0.5},
                step=4,
                params={"batch": 32},
                request_id="batch-0001",
            )
        points = [modelreg.Metric("loss", 0.5, 5), modelreg.Metric("loss", 0.25, 6)]
        client.log_run_data(project, run.run_id, metrics=points)
        with pytest.raises(modelreg.InvalidArgumentError):
            client.log_run_data(project, run.run_id, params={"lr": 0.02})  # params are fixed
        with pytest.raises(modelreg.InvalidArgumentError):
            run.log_params({"batch": 64})
    history = list(client.metric_history(project, run.run_id, "loss"))
    assert [(m.step, m.value) for m in history] == [(4, 1.0), (5, 0.5), (6, 0.25)]
    assert len(list(client.metric_history(project, run.run_id, "acc"))) == 1
    assert client.get_run(project, run.run_id).params == {"lr": 0.01, "batch": 32}


def test_list_runs_with_filters(client: modelreg.Client, project: str) -> None:
    ids = []
    for lr, bleu, team in ((0.01, 31.0, "nlp"), (0.05, 28.0, "nlp"), (0.1, 35.0, "cv")):
        with client.start_run(project, params={"lr": lr}, labels={"team": team}) as run:
            run.log_metrics({"bleu": bleu})
        ids.append(run.run_id)
    runs = list(client.list_runs(project))
    assert [r.run_id for r in runs] == ids
    assert all(r.state is RunState.SUCCEEDED for r in runs)

    def found(filter: str) -> list[str]:
        return [r.run_id for r in client.list_runs(project, filter=filter)]

    assert found("params.lr < 0.05") == ids[:1]
    assert found("metrics.bleu >= 30") == [ids[0], ids[2]]
    assert found('params.lr < 0.06 AND labels.team = "nlp"') == ids[:2]
    assert found('state = "SUCCEEDED"') == ids
    assert found(f'run_id = "{ids[1]}"') == [ids[1]]
    with pytest.raises(modelreg.InvalidArgumentError) as info:
        found("nonsense.field = 1")
    assert "filter" in (info.value.field or info.value.details)
    by_id = [r.run_id for r in client.list_runs(project, order_by="run_id desc", page_size=1)]
    assert by_id == sorted(ids, reverse=True)


# Versions from runs, evaluations, compare and rank


def test_register_from_a_run_sets_source_run_and_outputs(
    client: modelreg.Client, project: str
) -> None:
    train = client.create_dataset_version(project, "train", uri="s3://d/train.parquet")
    with client.start_run(project, params={"lr": 0.01}, inputs=[train]) as run:
        run.log_metrics({"loss": 0.4}, step=1)
        v = run.register_model_version(
            "kr2en", artifact_uri="./model/v1.pth", architecture="transformer-base"
        )
        assert v.source_run == run.name
        assert [(d.dataset_version, d.role) for d in v.training_data] == [
            (train.resource_name, DataRole.TRAIN)
        ]
        # The run's params are the version's, those given to start_run and those
        # logged since; explicit params win.
        assert v.params == {"lr": 0.01}
        run.log_params({"epochs": 10})
        v2 = run.register_model_version("kr2en_b", artifact_uri="./model/b1.pth")
        assert v2.params == {"lr": 0.01, "epochs": 10}
        v3 = run.register_model_version("kr2en_c", artifact_uri="./c.pth", params={"lr": 0.1})
        assert v3.params == {"lr": 0.1}
    done = client.get_run(project, run.run_id)
    assert [(o.model_version, o.display_name, o.artifact_uri) for o in done.outputs] == [
        (v.resource_name, "kr2en_v1", "./model/v1.pth"),
        (v2.resource_name, "kr2en_b_v1", "./model/b1.pth"),
        (v3.resource_name, "kr2en_c_v1", "./c.pth"),
    ]
    # Without a run: source_run by run id in the project, training data by name.
    w = client.register_model_version(
        project,
        "kr2en",
        artifact_uri="./model/v2.pth",
        source_run=run.run_id,
        training_data=[train.resource_name, modelreg.DataRef("train", "v1", role=DataRole.TEST)],
    )
    assert w.source_run == run.name
    assert [(d.dataset_version, d.role) for d in w.training_data] == [
        (train.resource_name, DataRole.TRAIN),
        (train.resource_name, DataRole.TEST),
    ]
    assert len(client.get_run(project, run.run_id).outputs) == 4
    with pytest.raises(modelreg.InvalidArgumentError):
        client.register_model_version(project, "kr2en", artifact_uri="x", source_run="no_run")
    with pytest.raises(modelreg.InvalidArgumentError):
        client.register_model_version(
            project, "kr2en", artifact_uri="x", training_data=[dv_name(project, "train", "v9")]
        )


Story = tuple[list[modelreg.ModelVersion], str, str]


def make_story(client: modelreg.Client, project: str) -> Story:
    """Three runs with different lr, a version from each, evaluated on two test sets where
    a different version wins: v2 on test_a (v3 ties it, registered later), v3 on test_b."""
    test_a = client.create_dataset_version(project, "test_a", uri="s3://d/a.parquet")
    test_b = client.create_dataset_version(project, "test_b", uri="s3://d/b.parquet")
    versions = []
    scores = {0.01: (0.78, 0.60, 0.30), 0.005: (0.81, 0.62, 0.35), 0.001: (0.81, 0.70, 0.25)}
    for lr, (a, b, loss) in scores.items():
        with client.start_run(project, params={"lr": lr, "epochs": 10}) as run:
            v = run.register_model_version(
                "kr2en", artifact_uri=f"./model/{lr}.pth", params={"lr": lr, "epochs": 10}
            )
        client.log_evaluation(v, dataset=test_a, metrics={"precision": a, "loss": loss}, run=run)
        client.log_evaluation(v, dataset=test_b.resource_name, metrics={"precision": b})
        versions.append(v)
    return versions, test_a.resource_name, test_b.resource_name


def test_evaluations(client: modelreg.Client, project: str) -> None:
    test = client.create_dataset_version(project, "test", uri="s3://d/test.parquet")
    with client.start_run(project) as run:
        v = run.register_model_version("kr2en", artifact_uri="./model/v1.pth")
    first = client.log_evaluation(
        v, dataset=test, metrics={"precision": 0.78, "recall": 0.74}, run=run, labels={"k": "v"}
    )
    assert (first.project, first.model, first.version, first.evaluation_id) == (
        project,
        "kr2en",
        1,
        "eval_1",
    )
    assert (first.dataset_version, first.slice, first.run) == (test.resource_name, "", run.name)
    assert first.metrics == {"precision": 0.78, "recall": 0.74}
    assert (first.labels, first.created_by) == ({"k": "v"}, "tester")
    second = client.log_evaluation(
        (project, "kr2en", 1),
        dataset=test.resource_name,
        metrics={"precision": 0.9},
        slice="country=kr",
        evaluation_id="by_country",
    )
    assert second.resource_name == f"{v.resource_name}/evaluations/by_country"
    assert client.get_evaluation(project, "kr2en", 1, "eval_1") == first
    assert list(client.list_evaluations(project, "kr2en", 1)) == [first, second]
    with pytest.raises(modelreg.InvalidArgumentError):
        client.log_evaluation(v, dataset=test, metrics={"precision": math.nan})
    with pytest.raises(MISSING_REFERENCE):
        client.log_evaluation(v, dataset=dv_name(project, "test", "v9"), metrics={"p": 1.0})


def test_compare_versions(client: modelreg.Client, project: str) -> None:
    _, test_a, test_b = make_story(client, project)
    comparison = client.compare_versions(project, "kr2en", [1, 2, "3"])
    assert [v.version for v in comparison.versions] == [1, 2, 3]
    assert comparison.differing_params == ("lr",)
    params = {p.key: (p.values, p.differs) for p in comparison.params}
    assert params == {"epochs": ((10, 10, 10), False), "lr": ((0.01, 0.005, 0.001), True)}
    metrics = {(m.dataset_version, m.metric): m.values for m in comparison.metrics}
    assert metrics == {
        (test_a, "loss"): (0.30, 0.35, 0.25),
        (test_a, "precision"): (0.78, 0.81, 0.81),
        (test_b, "precision"): (0.60, 0.62, 0.70),
    }
    with pytest.raises(modelreg.ModelregError):
        client.compare_versions(project, "kr2en", [1, 9])


def test_rank_and_best(client: modelreg.Client, project: str) -> None:
    (v1, v2, v3), test_a, test_b = make_story(client, project)
    ranked = list(client.rank_versions(project, "kr2en", metric="precision", dataset=test_a))
    assert [(r.rank, r.version.version, r.score) for r in ranked] == [
        (1, 2, 0.81),  # a tie: the earlier version ranks first
        (2, 3, 0.81),
        (3, 1, 0.78),
    ]
    assert ranked[0].evaluation.startswith(v2.resource_name + "/evaluations/")
    best = client.best_version(project, "kr2en", metric="precision", dataset=test_a, goal="max")
    assert best.resource_name == v2.resource_name
    assert client.best_version(project, "kr2en", metric="precision", dataset=test_b).version == 3
    lowest = client.best_version(project, "kr2en", metric="loss", dataset=test_a, goal="min")
    assert lowest.version == 3
    worst = client.rank_versions(
        project, "kr2en", metric="loss", dataset=test_a, goal=Goal.MAXIMIZE
    )
    assert [r.version.version for r in worst] == [2, 1, 3]
    filtered = client.best_version(
        project, "kr2en", metric="precision", dataset=test_a, filter="params.lr > 0.002"
    )
    assert filtered.version == 2
    # The whole project: another model's version takes the lead.
    other = client.register_model_version(project, "other", artifact_uri="./other.pth")
    client.log_evaluation(other, dataset=test_a, metrics={"precision": 0.99})
    rows = client.rank_versions(project, metric="precision", dataset=test_a, page_size=2)
    whole = [r.version.resource_name for r in rows]
    assert whole == [other.resource_name, v2.resource_name, v3.resource_name, v1.resource_name]
    best_of_all = client.best_version(project, metric="precision", dataset=test_a)
    assert best_of_all.resource_name == other.resource_name
    with pytest.raises(modelreg.NotFoundError, match="recall"):
        client.best_version(project, "kr2en", metric="recall", dataset=test_a)
