"""Batch learning with modelreg: three successive data batches; the model is retrained on each,
incrementally (each version fine-tuned from the previous one), evaluated on a held-out set;
the best version is picked by a query and promoted; then the registry answers which versions
learned from a batch and how the metric moved from batch to batch.

The model is a logistic regression in numpy on generated data ("will this customer churn?").

    pip install 'modelreg[examples]'          # numpy
    modelreg serve &                          # or: make run
    MODELREG_TARGET=127.0.0.1:50051 python examples/batch_mode.py [PROJECT]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

import modelreg

MODEL = "churn"
DEPLOYMENT = "prod"
FEATURES = 8
PARAMS: dict[str, float | int] = {"lr": 0.1, "epochs": 30}
BATCHES = 3
BATCH_ROWS = 1_500
METRIC = "log_loss"  # lower is better


# The model: logistic regression by batch gradient descent, continued from given weights.


def sigmoid(z: np.ndarray) -> np.ndarray:
    p: np.ndarray = 1.0 / (1.0 + np.exp(-z))
    return p


def with_bias(x: np.ndarray) -> np.ndarray:
    return np.hstack([x, np.ones((len(x), 1))])


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def train(x: np.ndarray, y: np.ndarray, w: np.ndarray, run: modelreg.ActiveRun) -> np.ndarray:
    """A few epochs on one batch, from ``w`` (the previous version's weights)."""
    w = w.copy()
    xb = with_bias(x)
    for epoch in range(int(PARAMS["epochs"])):
        p = sigmoid(xb @ w)
        w -= float(PARAMS["lr"]) * (xb.T @ (p - y) / len(y))
        run.log_metrics({"train_loss": log_loss(y, p)}, step=epoch)
    return w


def evaluate(w: np.ndarray, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    p = sigmoid(with_bias(x) @ w)
    return {"accuracy": float(np.mean((p >= 0.5) == y)), METRIC: log_loss(y, p)}


def generate(rng: np.random.Generator, n: int, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = rng.normal(size=(n, FEATURES))
    y = (rng.random(n) < sigmoid(with_bias(x) @ truth)).astype(float)
    return x, y


def save(path: Path, array: np.ndarray) -> tuple[str, str, int]:
    """Write ``array`` to ``path`` (.npy); its URI, hex SHA-256 and size in bytes."""
    with path.open("wb") as f:
        np.save(f, array)
    data = path.read_bytes()
    return path.as_uri(), hashlib.sha256(data).hexdigest(), len(data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "project", nargs="?", default=os.environ.get("MODELREG_PROJECT", "batch_demo")
    )
    args = parser.parse_args(argv)
    project: str = args.project
    target = os.environ.get("MODELREG_TARGET", "127.0.0.1:50051")
    workdir = Path(tempfile.gettempdir()) / "modelreg-examples" / project
    workdir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(11)
    truth = rng.normal(size=FEATURES + 1)
    # The batches cover three successive days, ending at the start of today (UTC).
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)

    with modelreg.Client(target) as client:
        with contextlib.suppress(modelreg.AlreadyExistsError):
            client.create_project(project, description="modelreg example: batch learning")
        hx, hy = generate(rng, 2_000, truth)
        uri, digest, _ = save(workdir / "holdout.npy", np.column_stack([hx, hy]))
        holdout = client.create_dataset_version(
            project, "holdout", uri=uri, digest=f"sha256:{digest}", row_count=len(hy), split="test"
        )
        print(f"holdout: {holdout.resource_name}")

        w = np.zeros(FEATURES + 1)
        previous: modelreg.ModelVersion | None = None
        for day in range(BATCHES):
            start = today - timedelta(days=BATCHES - day)
            batch_id = start.strftime("%Y-%m-%d")
            x, y = generate(rng, BATCH_ROWS, truth)
            uri, digest, _ = save(workdir / f"events-{batch_id}.npy", np.column_stack([x, y]))
            batch = client.create_dataset_version(
                project,
                "events",
                uri=uri,
                digest=f"sha256:{digest}",
                row_count=len(y),
                split="train",
                batch_id=batch_id,
                data_start_time=start,
                data_end_time=start + timedelta(days=1),
            )
            with client.start_run(
                project, experiment="incremental", params=PARAMS, inputs=[batch]
            ) as run:
                w = train(x, y, w, run)
                uri, digest, size = save(workdir / f"{MODEL}-{batch_id}.npy", w)
                # training_data defaults to the run's inputs: this batch.
                version = run.register_model_version(
                    MODEL,
                    artifact_uri=uri,
                    artifact_sha256=digest,
                    artifact_size=size,
                    artifact_format="npy",
                    architecture="logistic-regression",
                    parent_version=None if previous is None else previous.resource_name,
                )
                metrics = evaluate(w, hx, hy)
                client.log_evaluation(version, dataset=holdout, metrics=metrics, run=run)
            parent = "" if previous is None else f" from {previous.display_name}"
            print(
                f"batch {batch_id} ({batch.resource_name}): {version.display_name}{parent}, "
                f"run {run.run_id}, {METRIC} {metrics[METRIC]:.4f}, "
                f"accuracy {metrics['accuracy']:.3f}"
            )
            previous = version

        # The best version by a query, not by what this script remembers.
        ranking = list(
            client.rank_versions(project, MODEL, metric=METRIC, dataset=holdout, goal="min")
        )
        for row in ranking:
            print(f"  rank {row.rank}: {row.version.display_name} {METRIC} {row.score:.4f}")
        best = ranking[0].version
        client.set_alias(project, MODEL, "production", best.version, reason=f"best {METRIC}")
        try:
            client.get_deployment(project, DEPLOYMENT)
            deployment = client.set_traffic(project, DEPLOYMENT, {best.version: 100})
        except modelreg.NotFoundError:
            deployment = client.create_deployment(
                project, DEPLOYMENT, model=MODEL, traffic={best.version: 100}, environment="prod"
            )
        print(f"promoted {best.display_name}: alias production, {deployment.resource_name}")

        report(client, project, holdout, best)
    return 0


def display(version_name: str) -> str:
    """``projects/p/models/churn/versions/2`` -> ``churn_v2``."""
    parts = version_name.split("/")
    return f"{parts[-3]}_v{parts[-1]}"


def report(
    client: modelreg.Client,
    project: str,
    holdout: modelreg.DatasetVersion,
    best: modelreg.ModelVersion,
) -> None:
    """What the registry knows about the batches now."""
    for batch in client.list_batches(project, dataset="events"):
        dv = batch.dataset_version
        learned = client.versions_trained_on(project, dataset_version=dv.resource_name)
        # t.via: the ancestor (by parent_version) that trained on the batch itself.
        names = ", ".join(
            t.model_version.display_name + (f" (through {display(t.via)})" if t.via else "")
            for t in learned
        )
        print(f"batch {dv.batch_id}: learned by {names}")
    print(f"{METRIC} from batch to batch:")
    for point in client.batch_metric_series(project, MODEL, METRIC, dataset=holdout):
        value = "-" if point.value is None else f"{point.value:.4f}"
        print(f"  {point.batch_id}  v{point.version}  {value}")
    behind = client.batches_behind(best)
    print(f"behind {best.display_name}: " + ", ".join(b.dataset_version.batch_id for b in behind))


if __name__ == "__main__":
    sys.exit(main())
