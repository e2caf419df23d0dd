"""Pipeline learning with modelreg: prepare -> train -> validate -> deploy, each step recorded
with what it read and what it made, then production traffic through the inference logger
with ground truth sent back, so the lineage reaches from the data to the predictions.

The model is a logistic regression in numpy on generated data ("will this customer churn?").

    pip install 'modelreg[examples]'          # numpy
    modelreg serve &                          # or: make run
    MODELREG_TARGET=127.0.0.1:50051 python examples/pipeline_mode.py [PROJECT]

Run it again: each run is a new pipeline run of the same definition (compare them with
``modelreg pipelines runs PROJECT``), training a new version and deploying it if it passes.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

import modelreg

MODEL = "churn"
PIPELINE = "nightly"
DEPLOYMENT = "prod"
FEATURES = 8
MIN_ACCURACY = 0.7  # the validate step's gate: below it, the deploy step is skipped
PARAMS: dict[str, float | int] = {"lr": 0.5, "epochs": 300, "l2": 0.001}
REQUESTS = 300  # predictions streamed after the deployment


# The model: logistic regression by batch gradient descent.


def sigmoid(z: np.ndarray) -> np.ndarray:
    p: np.ndarray = 1.0 / (1.0 + np.exp(-z))
    return p


def with_bias(x: np.ndarray) -> np.ndarray:
    return np.hstack([x, np.ones((len(x), 1))])


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def train(x: np.ndarray, y: np.ndarray, run: modelreg.ActiveRun) -> np.ndarray:
    w = np.zeros(x.shape[1] + 1)
    xb = with_bias(x)
    lr, l2 = float(PARAMS["lr"]), float(PARAMS["l2"])
    for epoch in range(int(PARAMS["epochs"])):
        p = sigmoid(xb @ w)
        w -= lr * (xb.T @ (p - y) / len(y) + l2 * w)
        if epoch % 25 == 0:
            run.log_metrics({"train_loss": log_loss(y, p)}, step=epoch)
    return w


def evaluate(w: np.ndarray, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    p = sigmoid(with_bias(x) @ w)
    return {"accuracy": float(np.mean((p >= 0.5) == y)), "log_loss": log_loss(y, p)}


# Data: generated, saved next to the artifacts, registered as dataset versions.


def generate(rng: np.random.Generator, n: int, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = rng.normal(size=(n, FEATURES))
    y = (rng.random(n) < sigmoid(with_bias(x) @ truth)).astype(float)
    return x, y


def save(path: Path, array: np.ndarray) -> tuple[str, str, int]:
    """Write ``array`` to ``path`` (.npy); its URI, ``sha256:<hex>`` digest and size in bytes."""
    with path.open("wb") as f:
        np.save(f, array)
    data = path.read_bytes()
    return path.as_uri(), hashlib.sha256(data).hexdigest(), len(data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "project", nargs="?", default=os.environ.get("MODELREG_PROJECT", "pipeline_demo")
    )
    args = parser.parse_args(argv)
    project: str = args.project
    target = os.environ.get("MODELREG_TARGET", "127.0.0.1:50051")
    workdir = Path(tempfile.gettempdir()) / "modelreg-examples" / project
    workdir.mkdir(parents=True, exist_ok=True)
    # The pipeline's definition is this file: its digest versions the run, so reruns of
    # the same code compare, and a changed definition shows.
    definition = "sha256:" + hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]
    rng = np.random.default_rng(7)
    truth = rng.normal(size=FEATURES + 1)
    now = datetime.now(timezone.utc).replace(microsecond=0)

    with modelreg.Client(target) as client:
        with contextlib.suppress(modelreg.AlreadyExistsError):
            client.create_project(project, description="modelreg example: pipeline learning")

        with client.pipeline_run(
            project, PIPELINE, definition_version=definition, params=PARAMS
        ) as p:
            print(f"pipeline run {p.name} ({definition})")

            with p.step("prepare") as s:
                x, y = generate(rng, 2_000, truth)
                uri, digest, _ = save(workdir / f"events-{p.run_id}.npy", np.column_stack([x, y]))
                batch = client.create_dataset_version(
                    project,
                    "events",
                    uri=uri,
                    digest=f"sha256:{digest}",
                    row_count=len(y),
                    split="train",
                    batch_id=now.strftime("%Y-%m-%dT%H%M%S"),
                    data_start_time=now - timedelta(days=1),
                    data_end_time=now,
                )
                hx, hy = generate(rng, 1_000, truth)
                uri, digest, _ = save(
                    workdir / f"holdout-{p.run_id}.npy", np.column_stack([hx, hy])
                )
                holdout = client.create_dataset_version(
                    project,
                    "holdout",
                    uri=uri,
                    digest=f"sha256:{digest}",
                    row_count=len(hy),
                    split="test",
                )
                s.add_output(batch, role="train")
                s.add_output(holdout, role="holdout")
            print(f"  prepare: batch {batch.resource_name}, holdout {holdout.resource_name}")

            with p.step("train", inputs=[(batch, "train")], params=PARAMS) as s:
                with client.start_run(project, params=PARAMS, inputs=[batch]) as run:
                    w = train(x, y, run)
                    uri, digest, size = save(workdir / f"{MODEL}-{p.run_id}.npy", w)
                    version = s.register_model_version(
                        MODEL,
                        artifact_uri=uri,
                        artifact_sha256=digest,
                        artifact_size=size,
                        artifact_format="npy",
                        architecture="logistic-regression",
                        params=PARAMS,
                        source_run=run.name,
                    )
                s.add_output(run, role="training run")
            print(f"  train: {version.display_name} from run {run.run_id}")

            with p.step("validate", inputs=[version, (holdout, "holdout")]) as s:
                metrics = evaluate(w, hx, hy)
                s.log_evaluation(version, dataset=holdout, metrics=metrics)
            print(f"  validate: accuracy {metrics['accuracy']:.3f}, loss {metrics['log_loss']:.3f}")

            if metrics["accuracy"] < MIN_ACCURACY:
                p.skip("deploy", reason=f"accuracy {metrics['accuracy']:.3f} < {MIN_ACCURACY}")
                print("  deploy: skipped (below the gate)")
                return 0
            with p.step("deploy", inputs=[version]) as s:
                client.set_alias(project, MODEL, "production", version.version, reason=p.name)
                try:
                    client.get_deployment(project, DEPLOYMENT)
                    deployment = client.set_traffic(
                        project, DEPLOYMENT, {version.version: 100}, reason=p.name
                    )
                except modelreg.NotFoundError:
                    deployment = client.create_deployment(
                        project,
                        DEPLOYMENT,
                        model=MODEL,
                        traffic={version.version: 100},
                        environment="prod",
                        reason=p.name,
                    )
                s.add_output(deployment, role="deployment")
            print(f"  deploy: {deployment.resource_name} serves {version.display_name}")
        print(f"pipeline run {p.run.run_id}: {p.run.state.value}")

        serve(client, project, w, rng, truth, p.run_id)
        # What data is behind what is in production now, and what came of the batch.
        lineage = client.lineage(deployment, direction="upstream", depth=6)
        print(f"lineage upstream of {deployment.resource_name}:")
        for node in lineage.nodes[1:]:
            print(f"  {node.distance}  {node.kind.value:<17} {node.display_name or node.name}")
        lineage = client.lineage(batch, direction="downstream", depth=6)
        print(f"lineage downstream of {batch.resource_name}:")
        for node in lineage.nodes[1:]:
            print(f"  {node.distance}  {node.kind.value:<17} {node.display_name or node.name}")
    return 0


def serve(
    client: modelreg.Client,
    project: str,
    w: np.ndarray,
    rng: np.random.Generator,
    truth: np.ndarray,
    tag: str,
) -> None:
    """What a serving process does: resolve ``production`` once, predict, log every
    prediction tagged with the version; later, send the ground truth back."""
    x, y = generate(rng, REQUESTS, truth)
    truths: dict[str, str] = {}
    with client.inference_logger(project, MODEL, alias="production", deployment=DEPLOYMENT) as log:
        for i in range(REQUESTS):
            started = time.perf_counter()
            prob = float(sigmoid(with_bias(x[i : i + 1]) @ w)[0])
            label = "churn" if prob >= 0.5 else "stay"
            record_id = log.log(
                inputs={"features": x[i].round(4).tolist()},
                outputs={"p_churn": round(prob, 4)},
                prediction=label,
                latency_ms=(time.perf_counter() - started) * 1000,
                request_id=f"{tag}-{i}",
                attributes={"segment": "new" if x[i, 0] > 0 else "returning"},
            )
            truths[record_id] = "churn" if y[i] else "stay"
        log.flush()
        stats = log.stats()
        print(
            f"served {REQUESTS} predictions with {MODEL} v{log.version}: "
            f"{stats.acked} acknowledged, {stats.dropped} dropped"
        )
    # Later (minutes or weeks), the ground truth arrives; it joins the records by id.
    feedback = [modelreg.Feedback(label, record_id=rid) for rid, label in truths.items()]
    result = client.log_feedback_batch(project, feedback)
    print(f"feedback: {result.matched} records matched")
    report = client.production_metrics(project, MODEL, deployment=DEPLOYMENT, by="version")
    for row in report.rows:
        accuracy = "-" if row.accuracy is None else f"{row.accuracy:.3f}"
        print(f"  v{row.version}: {row.count} records, live accuracy {accuracy}")


if __name__ == "__main__":
    sys.exit(main())
