"""A project for the dashboard's runs and project pages, built through the SDK: 25 runs
with different params, loss and accuracy curves over steps, 20 of them producing a
version of model ``clf``, evaluations of those versions on two dataset versions, and a
deployment. ``Built`` holds what the pages must show, computed from the same formulas."""

from __future__ import annotations

from dataclasses import dataclass, field

import modelreg
from tests.conftest import unique

RUNS = 25
PRODUCING = 20  # runs 0..19 register a version of "clf" (version i + 1)
LRS = (0.01, 0.02, 0.05, 0.1, 0.2)
BATCHES = (16, 32, 64)


def lr(i: int) -> float:
    return LRS[i % len(LRS)]


def batch(i: int) -> int:
    return BATCHES[i % len(BATCHES)]


def optimizer(i: int) -> str:
    return "adam" if i % 2 == 0 else "sgd"


def steps(i: int) -> int:
    return 5 + i % 4


def loss(i: int, step: int) -> float:
    return round((1.0 + lr(i) * 10) / (1 + step) + i * 0.001, 6)


def accuracy(i: int, step: int) -> float:
    return round(0.5 + 0.4 * step / (steps(i) - 1) - lr(i) + i * 0.0001, 6)


def q1_accuracy(i: int) -> float:
    """The evaluation of run i's version on test/q1 (every producing run)."""
    return round(0.6 + ((i * 7) % 20) * 0.01, 4)


def q2_accuracy(i: int) -> float | None:
    """On test/q2: only the even producing runs."""
    return round(0.95 - i * 0.01, 4) if i % 2 == 0 else None


def run_id(i: int) -> str:
    return f"run_{i:02d}"


@dataclass
class Built:
    project: str
    train: str  # dataset version resource names
    q1: str
    q2: str
    versions: dict[int, str] = field(default_factory=dict)  # run index -> version name

    def final_loss(self, i: int) -> float:
        return loss(i, steps(i) - 1)

    def final_accuracy(self, i: int) -> float:
        return accuracy(i, steps(i) - 1)


def build(client: modelreg.Client) -> Built:
    project = unique("uiruns")
    client.create_project(project, description="runs of the dashboard tests")
    train = client.create_dataset_version(project, "train", uri="s3://d/train", version="v1")
    q1 = client.create_dataset_version(project, "test", uri="s3://d/q1", version="q1")
    q2 = client.create_dataset_version(
        project, "test", uri="s3://d/q2", version="q2", batch_id="2024-q2"
    )
    built = Built(project, train.resource_name, q1.resource_name, q2.resource_name)
    for i in range(RUNS):
        with client.start_run(
            project,
            run_id=run_id(i),
            experiment="sweep",
            params={"lr": lr(i), "batch": batch(i), "optimizer": optimizer(i)},
            inputs=[train, (q1, modelreg.DataRole.TEST)],
            code_version=modelreg.CodeVersion(repo="git@example:clf", commit=f"c0ffee{i:02d}"),
            labels={"team": "vision"},
        ) as run:
            for s in range(steps(i)):
                run.log_metrics({"loss": loss(i, s), "accuracy": accuracy(i, s)}, step=s)
            if i < PRODUCING:
                v = run.register_model_version(
                    "clf", artifact_uri=f"s3://models/clf/run_{i:02d}.pt"
                )
                built.versions[i] = v.resource_name
                client.log_evaluation(v, dataset=q1, metrics={"accuracy": q1_accuracy(i)})
                a2 = q2_accuracy(i)
                if a2 is not None:
                    client.log_evaluation(v, dataset=q2, metrics={"accuracy": a2})
    client.create_deployment(project, "prod", model="clf", traffic={1: 90, 2: 10})
    return built
