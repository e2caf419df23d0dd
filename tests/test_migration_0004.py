"""Migration 0004 (experiment tracking), tested by upgrading a database made at
0003 with data in it: versions with free-form training data (names that are not
valid dataset ids, names that clash once made valid, versions told apart only
by their batch id, references without a version), versions without training
data, and free-text source runs. The upgraded registry reads every version back
as it was stored, each reference now names a dataset version that exists, and
new work (dataset versions, registrations, evaluations, rankings) runs on it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

import modelreg
from modelreg.api.v1 import registry_service_pb2 as rpc
from modelreg.api.v1 import resources_pb2 as pb
from modelreg.api.v1 import tracking_service_pb2 as trpc
from modelreg_server.storage import migrate
from modelreg_server.testing import fresh_database, running_server
from tests.support import ACTOR, dataset_version, tracking_stub
from tests.test_migrations import AT_0001, _sql, _upgrade

# (dataset, version, batch_id, role) per version of projects/legacy3/models/m, as the
# 0003 server stored them; and source_run.
REFS: dict[int, list[tuple[str, str, str, str]]] = {
    1: [
        ("wmt kr-en", "2024-01", "", "TRAIN"),  # not a valid dataset id
        ("Corpus", "v1", "", "VALIDATION"),  # valid only in lower case: clashes with...
        ("corpus", "v1", "", "TRAIN"),  # ...this one
        ("corpus", "v1", "b-1", "TEST"),  # same version, told apart by the batch id
    ],
    2: [],
    3: [
        ("corpus", "", "batch-7", "TRAIN"),  # a batch, no version
        ("corpus", "", "", "TRAIN"),  # neither
        ("9lives", "x/y", "", "TEST"),  # leading digit; a slash in the version
        ("wmt kr-en", "2024-01", "", "VALIDATION"),  # the same data as version 1's
    ],
}
SOURCE_RUNS = {1: "run 42 (notebook)", 2: "", 3: "projects/legacy3/runs/r1"}


def _at_0003() -> str:
    versions, data = [], []
    for n, refs in REFS.items():
        listed = ", ".join(f'["{d}", "{v}", "{b}", "{r}"]' for d, v, b, r in refs)
        versions.append(
            f"({1000 + n}, 1003, {n}, 's3://b/{n}.pt', '[{listed}]', '{SOURCE_RUNS[n]}', 'alice')"
        )
        data += [
            f"({1000 + n}, {i}, '{d}', '{v}', '{b}', '{r}')"
            for i, (d, v, b, r) in enumerate(refs, 1)
        ]
    return f"""
INSERT INTO projects (id, name) VALUES (1003, 'legacy3'), (1004, 'other3');
INSERT INTO models (id, project_id, name, version_count) VALUES (1003, 1003, 'm', 3),
    (1004, 1004, 'm', 1);
INSERT INTO model_versions (id, model_id, version, artifact_uri, data_list, source_run, created_by)
VALUES {", ".join(versions)},
    (1004, 1004, 1, 's3://o/1.pt', '[["corpus", "v1", "", "TRAIN"]]', '', 'bob');
INSERT INTO model_version_data (version_id, position, dataset, version, batch_id, role)
VALUES {", ".join(data)}, (1004, 1, 'corpus', 'v1', '', 'TRAIN');
SELECT setval(pg_get_serial_sequence(t, 'id'), 2000)
FROM unnest(ARRAY['projects', 'models', 'model_versions']) AS t;
"""


@pytest.fixture(scope="module")
def upgraded(pg_server_url: str) -> Iterator[str]:
    """A database made at 0001 (with its data), upgraded to 0003, filled, then upgraded
    by `modelreg db upgrade`."""
    with fresh_database(pg_server_url, migrated=False) as url:
        asyncio.run(_upgrade(url, "0001"))
        asyncio.run(_sql(url, AT_0001))
        asyncio.run(_upgrade(url, "0003"))
        asyncio.run(_sql(url, _at_0003()))
        # The upgrade an operator runs: the `modelreg db upgrade` command itself.
        done = subprocess.run(
            [sys.executable, "-m", "modelreg.cli", "db", "upgrade", "--database-url", url],
            capture_output=True,
            text=True,
            timeout=120,
            env={k: v for k, v in os.environ.items() if not k.startswith("MODELREG_")},
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"schema: 0003 -> {migrate.head_revision()}"
        yield url


@pytest.fixture(scope="module")
def served(upgraded: str) -> Iterator[tuple[Any, Any, modelreg.Client]]:
    with (
        running_server(upgraded) as server,
        modelreg.Client(server.target, actor="tester") as client,
        tracking_stub(server.target) as tracking,
    ):
        yield client.stub, tracking, client


def _version(stub: Any, project: str, n: int) -> pb.ModelVersion:
    name = f"projects/{project}/models/m/versions/{n}"
    return stub.GetModelVersion(rpc.GetModelVersionRequest(name=name), timeout=10)  # type: ignore[no-any-return]


def test_versions_read_back_as_stored_and_name_dataset_versions_that_exist(
    served: tuple[Any, Any, modelreg.Client],
) -> None:
    stub, tracking, _ = served
    roles = {"TRAIN": pb.DATA_ROLE_TRAIN, "VALIDATION": pb.DATA_ROLE_VALIDATION}
    roles["TEST"] = pb.DATA_ROLE_TEST
    names: dict[tuple[str, str, str], str] = {}
    for n, refs in REFS.items():
        got = _version(stub, "legacy3", n)
        assert got.source_run == SOURCE_RUNS[n]
        assert got.created_by == "alice"
        assert [(r.dataset, r.version, r.batch_id, r.role) for r in got.training_data] == [
            (d, v, b, roles[r]) for d, v, b, r in refs
        ]
        for ref in got.training_data:
            assert ref.dataset_version.startswith("projects/legacy3/datasets/")
            dv = tracking.GetDatasetVersion(
                trpc.GetDatasetVersionRequest(name=ref.dataset_version), timeout=10
            )
            assert dv.batch_id == ref.batch_id
            assert dv.created_by == "modelreg upgrade 0004"
            # One dataset version per distinct reference, the same for every version.
            key = (ref.dataset, ref.version, ref.batch_id)
            assert names.setdefault(key, ref.dataset_version) == ref.dataset_version
    # Distinct references, distinct dataset versions.
    assert len(set(names.values())) == len(names) == 7
    assert names[("corpus", "v1", "")] == "projects/legacy3/datasets/corpus/versions/v1"
    assert names[("Corpus", "v1", "")].startswith("projects/legacy3/datasets/corpus_")
    assert names[("corpus", "", "batch-7")].endswith("/datasets/corpus/versions/batch-7")
    assert names[("corpus", "", "")].endswith("/datasets/corpus/versions/unversioned")
    # Each project has its own datasets.
    other = _version(stub, "other3", 1)
    assert [r.dataset_version for r in other.training_data] == [
        "projects/other3/datasets/corpus/versions/v1"
    ]
    corpus = tracking.GetDataset(
        trpc.GetDatasetRequest(name="projects/legacy3/datasets/corpus"), timeout=10
    )
    assert corpus.version_count == 4
    # The version made at 0001 reads back too (its references had no batch id).
    legacy = _version(stub, "legacy", 1)
    assert [(r.dataset, r.version) for r in legacy.training_data] == [
        ("corpus", "v1"),
        ("held", ""),
    ]
    assert all(r.dataset_version for r in legacy.training_data)


def test_filters_see_the_references_as_stored(served: tuple[Any, Any, modelreg.Client]) -> None:
    stub, _, _ = served

    def listed(text: str) -> list[int]:
        page = stub.ListModelVersions(
            rpc.ListModelVersionsRequest(parent="projects/legacy3/models/m", filter=text),
            timeout=10,
        )
        return [v.version for v in page.model_versions]

    assert listed('training_data.dataset = "wmt kr-en"') == [1, 3]
    assert listed('training_data.batch_id = "batch-7"') == [3]
    assert listed('source_run = "run 42 (notebook)"') == [1]
    name = _version(stub, "legacy3", 1).training_data[1].dataset_version
    assert listed(f'training_data.dataset_version = "{name}"') == [1]


def test_new_work_on_the_upgraded_database(served: tuple[Any, Any, modelreg.Client]) -> None:
    stub, tracking, _ = served
    # A server-made id skips the ids the upgrade took.
    made = dataset_version(tracking, "legacy3", "corpus")
    assert made.version == "v2"
    test = dataset_version(tracking, "legacy3", "test", "2024-q3").name
    old = _version(stub, "legacy3", 1).training_data[0].dataset_version
    v = stub.CreateModelVersion(
        rpc.CreateModelVersionRequest(
            parent="projects/legacy3/models/m",
            model_version=pb.ModelVersion(
                artifact=pb.Artifact(uri="s3://b/4.pt"),
                training_data=[
                    pb.DataRef(dataset_version=old),
                    pb.DataRef(dataset_version=made.name, role=pb.DATA_ROLE_VALIDATION),
                ],
            ),
        ),
        metadata=ACTOR,
        timeout=10,
    )
    assert v.version == 4
    assert [r.dataset_version for r in v.training_data] == [old, made.name]
    assert v.training_data[0].dataset == old.split("/")[3]  # the id, for new references
    for n, score in ((1, 0.7), (4, 0.9), (3, 0.8)):
        tracking.CreateEvaluation(
            trpc.CreateEvaluationRequest(
                parent=f"projects/legacy3/models/m/versions/{n}",
                evaluation=pb.Evaluation(dataset_version=test, metrics={"bleu": score}),
            ),
            metadata=ACTOR,
            timeout=10,
        )
    ranked = tracking.RankModelVersions(
        trpc.RankModelVersionsRequest(
            parent="projects/legacy3",
            metric="bleu",
            dataset_version=test,
            goal=trpc.GOAL_MAXIMIZE,
        ),
        timeout=10,
    )
    assert [(r.rank, r.model_version.version) for r in ranked.ranked] == [(1, 4), (2, 3), (3, 1)]
    assert ranked.ranked[2].model_version.source_run == "run 42 (notebook)"
