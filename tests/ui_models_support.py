"""The data the models-area dashboard tests look at: a project with model ``ranker`` of
six versions, each registered from its own run, evaluated on three dataset versions,
with aliases moved several times, and a lineage chain

    train/v1 (batch 2026-01-05) -> run r3 -> ranker v3 -> ranker v6 (fine-tuned) ,

plus a deployment ``web`` serving v5.

    v   lr     layers optimizer batch_size  holdout/v1 acc, loss  holdout [kr] acc  test/v1 acc
    1   0.1    2      sgd       32          0.70  0.90
    2   0.05   2      adam      32          0.75  0.70
    3   0.01   4      adam      32          0.82  0.50            0.77              0.79
    4   0.01   4      adamw     32          0.80  0.55
    5   0.001  8      adam      32          0.86  0.45            0.81              0.78
    6   0.001  4      adam      32 (+frozen) 0.84  0.40                              0.81

Aliases, in order: production -> 1, staging -> 2, production -> 3, staging -> 5,
production -> 5, production rolled back (-> 3), staging -> 6.
"""

from __future__ import annotations

from dataclasses import dataclass

import modelreg
from tests.conftest import unique

MODEL = "ranker"
PARAMS: dict[int, dict[str, modelreg.ParamValue]] = {
    1: {"lr": 0.1, "layers": 2, "optimizer": "sgd", "batch_size": 32},
    2: {"lr": 0.05, "layers": 2, "optimizer": "adam", "batch_size": 32},
    3: {"lr": 0.01, "layers": 4, "optimizer": "adam", "batch_size": 32},
    4: {"lr": 0.01, "layers": 4, "optimizer": "adamw", "batch_size": 32},
    5: {"lr": 0.001, "layers": 8, "optimizer": "adam", "batch_size": 32},
    6: {"lr": 0.001, "layers": 4, "optimizer": "adam", "batch_size": 32, "frozen": True},
}
HOLDOUT = {
    1: {"accuracy": 0.70, "loss": 0.90},
    2: {"accuracy": 0.75, "loss": 0.70},
    3: {"accuracy": 0.82, "loss": 0.50},
    4: {"accuracy": 0.80, "loss": 0.55},
    5: {"accuracy": 0.86, "loss": 0.45},
    6: {"accuracy": 0.84, "loss": 0.40},
}
HOLDOUT_KR = {3: {"accuracy": 0.77}, 5: {"accuracy": 0.81}}
TEST = {3: {"accuracy": 0.79}, 5: {"accuracy": 0.78}, 6: {"accuracy": 0.81}}
# (alias, version or None for a rollback), in order.
ALIAS_MOVES: list[tuple[str, int | None]] = [
    ("production", 1),
    ("staging", 2),
    ("production", 3),
    ("staging", 5),
    ("production", 5),
    ("production", None),
    ("staging", 6),
]


@dataclass(frozen=True)
class Scenario:
    project: str
    train: modelreg.DatasetVersion
    holdout: modelreg.DatasetVersion
    test: modelreg.DatasetVersion
    versions: dict[int, modelreg.ModelVersion]
    runs: dict[int, str]  # version -> the run's resource name

    @property
    def model_url(self) -> str:
        return f"/projects/{self.project}/models/{MODEL}"

    def version_url(self, n: int | str) -> str:
        return f"{self.model_url}/versions/{n}"


def build(client: modelreg.Client) -> Scenario:
    project = unique("uimodels")
    client.create_project(project, description="models-area dashboard tests")
    train = client.create_dataset_version(
        project, "train", version="v1", uri="s3://d/train/v1", batch_id="2026-01-05"
    )
    holdout = client.create_dataset_version(project, "holdout", version="v1", uri="s3://d/h/v1")
    test = client.create_dataset_version(project, "test", version="v1", uri="s3://d/t/v1")
    versions: dict[int, modelreg.ModelVersion] = {}
    runs: dict[int, str] = {}
    for n, params in PARAMS.items():
        with client.start_run(project, run_id=f"r{n}", params=params, inputs=[train]) as run:
            run.log_metrics({"train_loss": HOLDOUT[n]["loss"] + 0.1}, step=1)
            v = run.register_model_version(
                MODEL,
                artifact_uri=f"s3://m/ranker/{n}/model.pt",
                artifact_sha256=f"{n:064x}",
                artifact_format="pytorch",
                architecture="mlp",
                architecture_config={"hidden": 64 * n, "activation": "relu"},
                code_version=modelreg.CodeVersion("git@example.com:ml/ranker", f"c0ffee{n}"),
                parent_version=versions[3].resource_name if n == 6 else None,
                labels={"team": "search"},
                description=f"ranker number {n}",
            )
            versions[n] = v
            runs[n] = run.resource_name
    for n, metrics in HOLDOUT.items():
        client.log_evaluation(versions[n], dataset=holdout, metrics=metrics, run=runs[n])
    for n, metrics in HOLDOUT_KR.items():
        client.log_evaluation(versions[n], dataset=holdout, metrics=metrics, slice="country=kr")
    for n, metrics in TEST.items():
        client.log_evaluation(versions[n], dataset=test, metrics=metrics)
    for alias, target in ALIAS_MOVES:
        if target is None:
            client.rollback_alias(project, MODEL, alias, reason="bad canary")
        else:
            client.set_alias(project, MODEL, alias, target, reason=f"promote v{target}")
    client.create_deployment(project, "web", model=MODEL, traffic={5: 100}, environment="prod")
    # Versions read back: with their aliases as they are now.
    versions = {n: client.get_model_version(project, MODEL, n) for n in versions}
    return Scenario(project, train, holdout, test, versions, runs)
