"""Three successive data batches and a model retrained on each, incrementally: the
scenario the batch-learning and lineage tests query.

Dataset ``clicks`` has the batches ``2024-11-04`` (b1), ``2024-11-05`` (b2) and
``2024-11-06`` (b3), registered out of order (b1, b3, b2) so that time order is not
creation order; ``extra/x`` is a second dataset version of batch ``2024-11-06`` with no
time range; ``holdout/v1`` is not a batch. Model ``detector``:

    v1  run r1 (auc 0.70)  TRAIN b1, VALIDATION holdout
    v2  run r2 (auc 0.75)  TRAIN b2, VALIDATION holdout        parent v1
    v3  run r3 (auc 0.90)  TRAIN b3, TRAIN extra/x             parent v2
    v4  no run             TRAIN b3                            parent v1

and ``other`` v1 (no data of its own), fine-tuned from detector v2. Evaluations on
holdout: auc 0.70, 0.80, 0.85 for v1-v3 (v4 has none), and auc 0.60 on slice ``kr``
for v2."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import modelreg

DAY0 = datetime(2024, 11, 4, tzinfo=timezone.utc)
BATCH_IDS = ("2024-11-04", "2024-11-05", "2024-11-06")


@dataclass(frozen=True)
class Scenario:
    project: str
    b1: modelreg.DatasetVersion
    b2: modelreg.DatasetVersion
    b3: modelreg.DatasetVersion
    extra: modelreg.DatasetVersion
    holdout: modelreg.DatasetVersion
    v1: modelreg.ModelVersion
    v2: modelreg.ModelVersion
    v3: modelreg.ModelVersion
    v4: modelreg.ModelVersion
    other: modelreg.ModelVersion
    runs: tuple[modelreg.Run, ...]

    def name(self, version: modelreg.ModelVersion) -> str:
        return version.resource_name


def _batch(client: modelreg.Client, project: str, day: int) -> modelreg.DatasetVersion:
    start = DAY0 + timedelta(days=day)
    return client.create_dataset_version(
        project,
        "clicks",
        version=f"b{day + 1}",
        uri=f"s3://clicks/{BATCH_IDS[day]}.parquet",
        batch_id=BATCH_IDS[day],
        data_start_time=start,
        data_end_time=start + timedelta(days=1),
    )


def build(client: modelreg.Client, project: str) -> Scenario:
    b1 = _batch(client, project, 0)
    b3 = _batch(client, project, 2)
    b2 = _batch(client, project, 1)
    extra = client.create_dataset_version(
        project, "extra", version="x", uri="s3://extra/x", batch_id=BATCH_IDS[2]
    )
    holdout = client.create_dataset_version(project, "holdout", version="v1", uri="s3://h/v1")
    versions = []
    runs = []
    parent: str | None = None
    for i, (data, auc) in enumerate([([b1], 0.70), ([b2], 0.75), ([b3, extra], 0.90)]):
        inputs: list[modelreg.DatasetVersion | tuple[modelreg.DatasetVersion, str]] = [*data]
        if i < 2:
            inputs.append((holdout, "VALIDATION"))
        with client.start_run(project, run_id=f"r{i + 1}", inputs=inputs) as run:
            run.log_metrics({"auc": auc}, step=1)
            v = run.register_model_version(
                "detector", artifact_uri=f"s3://m/detector/{i + 1}", parent_version=parent
            )
        runs.append(client.get_run(project, run.run_id))
        versions.append(v)
        parent = v.resource_name
    v1, v2, v3 = versions
    v4 = client.register_model_version(
        project,
        "detector",
        artifact_uri="s3://m/detector/4",
        training_data=[b3],
        parent_version=v1.resource_name,
    )
    other = client.register_model_version(
        project, "other", artifact_uri="s3://m/other/1", parent_version=v2.resource_name
    )
    for v, auc in [(v1, 0.70), (v2, 0.80), (v3, 0.85)]:
        client.log_evaluation(v, dataset=holdout, metrics={"auc": auc})
    client.log_evaluation(v2, dataset=holdout, metrics={"auc": 0.60}, slice="kr")
    return Scenario(project, b1, b2, b3, extra, holdout, v1, v2, v3, v4, other, tuple(runs))
