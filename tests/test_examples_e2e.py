"""The examples (examples/pipeline_mode.py, examples/batch_mode.py) run as a user runs them, a
subprocess against the real server, and what they recorded is read back: the lineage from
the deployment back to every batch, run and pipeline step, and from a batch forward to every
version and deployment."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import modelreg
from modelreg import PipelineRunState, PipelineStepState
from tests.conftest import unique

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TIMEOUT_S = 180.0  # they take a few seconds; this only bounds a hang


def run_example(name: str, target: str, project: str) -> str:
    env = {**os.environ, "MODELREG_TARGET": target}
    env.pop("MODELREG_PROJECT", None)
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), project],
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, f"{name} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def names(graph: Any) -> set[str]:
    return {node.name for node in graph.nodes}


def of_kind(graph: Any, kind: str) -> set[str]:
    return {node.name for node in graph.nodes if node.kind == kind}


def missing(expected: Iterable[str], graph: Any) -> list[str]:
    return sorted(set(expected) - names(graph))


def test_pipeline_mode(target: str, sync_client: modelreg.Client) -> None:
    client, project = sync_client, unique("pipe")
    out = run_example("pipeline_mode.py", target, project)
    assert "pipeline run projects/" in out and "served 300 predictions" in out

    (run,) = client.list_pipeline_runs(project, "nightly")
    assert run.state is PipelineRunState.SUCCEEDED, run.error
    assert run.definition_version.startswith("sha256:")
    assert [(s.step_id, s.state) for s in run.steps] == [
        (step, PipelineStepState.SUCCEEDED) for step in ("prepare", "train", "validate", "deploy")
    ]
    prepare, train, validate, deploy = run.steps
    batch, holdout = (r.name for r in prepare.outputs)
    (training_run,) = client.list_runs(project)
    (version,) = client.list_model_versions(project, "churn")
    deployment = client.get_deployment(project, "prod")
    assert deployment.traffic == {version.version: 100}
    assert client.get_alias(project, "churn", "production").version == version.version
    assert {r.name for r in train.outputs} == {version.resource_name, training_run.resource_name}
    assert [r.name for r in deploy.outputs] == [deployment.resource_name]
    (evaluation,) = client.list_evaluations(project, "churn", version.version)
    assert [r.name for r in validate.outputs] == [evaluation.resource_name]
    assert evaluation.dataset_version == holdout
    assert [d.dataset_version for d in version.training_data] == [batch]
    assert version.source_run == training_run.resource_name

    # Production: the predictions, tagged with the deployed version, and their feedback.
    records = list(client.list_inference_records(project, "churn", deployment="prod"))
    assert len(records) == 300
    assert {r.version for r in records} == {version.version}
    assert all(r.feedback is not None for r in records)
    (row,) = client.production_metrics(project, "churn", deployment="prod").rows
    assert (row.count, row.feedback_count) == (300, 300)

    # What data is behind what is in production now: one call from the deployment.
    up = client.lineage(deployment, direction="upstream", depth=6)
    steps = [f"{run.resource_name}/steps/{s}" for s in ("prepare", "train", "deploy")]
    assert missing([batch, training_run.resource_name, version.resource_name], up) == []
    assert missing([run.resource_name, *steps], up) == []
    assert of_kind(up, "BATCH") == {batch}
    # ...and what came of the batch, down to the days of predictions.
    down = client.lineage(batch, direction="downstream", depth=6)
    expected = [version.resource_name, deployment.resource_name, evaluation.resource_name]
    assert missing([*expected, training_run.resource_name, train.name], down) == []
    windows = of_kind(down, "INFERENCE_WINDOW")
    assert windows and all(
        w.startswith((deployment.resource_name, f"projects/{project}/models/churn/"))
        for w in windows
    )

    # Run again: a second run of the same definition, deploying the new version.
    run_example("pipeline_mode.py", target, project)
    first, second = client.list_pipeline_runs(project, "nightly")
    assert (first.run_id, second.run_id) == ("run_001", "run_002")
    assert first.definition_version == second.definition_version
    assert client.get_deployment(project, "prod").traffic == {2: 100}


def test_batch_mode(target: str, sync_client: modelreg.Client) -> None:
    client, project = sync_client, unique("batch")
    out = run_example("batch_mode.py", target, project)
    assert "promoted churn_v3" in out and "log_loss from batch to batch" in out

    batches = list(client.list_dataset_versions(project, "events"))
    assert len(batches) == 3 and all(b.batch_id for b in batches)
    assert [b.batch_id for b in batches] == sorted(b.batch_id for b in batches)
    versions = list(client.list_model_versions(project, "churn"))
    assert [v.version for v in versions] == [1, 2, 3]
    runs = list(client.list_runs(project))
    assert len(runs) == 3
    # Incremental: each version fine-tuned from the previous one, on its own batch.
    assert [v.parent_version for v in versions] == [
        "", versions[0].resource_name, versions[1].resource_name,
    ]  # fmt: skip
    assert [[d.dataset_version for d in v.training_data] for v in versions] == [
        [b.resource_name] for b in batches
    ]
    # The best by the query was promoted: the alias and the deployment.
    holdout = next(iter(client.list_dataset_versions(project, "holdout")))
    best = client.best_version(project, "churn", metric="log_loss", dataset=holdout, goal="min")
    assert best.version == 3
    assert client.get_alias(project, "churn", "production").version == 3
    deployment = client.get_deployment(project, "prod")
    assert deployment.traffic == {3: 100}

    # From the deployment back to every batch and run...
    up = client.lineage(deployment, direction="upstream", depth=8)
    everything = [*(b.resource_name for b in batches), *(r.resource_name for r in runs)]
    assert missing([*everything, *(v.resource_name for v in versions)], up) == []
    assert of_kind(up, "BATCH") == {b.resource_name for b in batches}
    # ...and from each batch forward to every version trained on it or after it, and the
    # deployment.
    for i, batch in enumerate(batches):
        down = client.lineage(batch, direction="downstream", depth=8)
        later = [v.resource_name for v in versions[i:]]
        assert missing([*later, deployment.resource_name], down) == [], batch.batch_id
        assert not {v.resource_name for v in versions[:i]} & names(down)

    # The batch queries agree.
    learned = client.versions_trained_on(project, batch_id=batches[0].batch_id)
    assert sorted(t.model_version.version for t in learned) == [1, 2, 3]
    series = list(client.batch_metric_series(project, "churn", "log_loss", dataset=holdout))
    assert [p.batch_id for p in series] == [b.batch_id for b in batches]
    values = [p.value for p in series]
    assert all(v is not None for v in values)
    assert values == sorted(values, reverse=True)  # the loss fell from batch to batch
