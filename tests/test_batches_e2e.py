"""Batch learning against the real server: the batches of a project, the versions that
learned from a batch (directly and through incremental training), the batches behind a
version, and a metric from batch to batch (scenario: tests/batch_support.py). SDK calls go
through the parametrised ``client`` (Client and AsyncClient); paging and errors through
the raw LineageService stub."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

import modelreg
from modelreg import Batch, BatchBehind, BatchMetricPoint, DataRole, TrainedVersion
from modelreg.api.v1 import lineage_service_pb2 as rpc
from tests.bad_input import assert_raw_invalid, raw_failure
from tests.batch_support import BATCH_IDS, Scenario, build
from tests.support import sql


@pytest.fixture
def lineage(sync_client: modelreg.Client) -> Any:
    return sync_client.lineage_stub


@pytest.fixture
def s(sync_client: modelreg.Client, project: str) -> Scenario:
    return build(sync_client, project)


def _trained(found: list[TrainedVersion]) -> list[tuple[str, int, str, str, int, str]]:
    return [
        (
            t.model_version.model,
            t.model_version.version,
            t.dataset_version.rsplit("/", 3)[-3] + "/" + t.dataset_version.rsplit("/", 1)[-1],
            t.role.value,
            t.generations,
            t.via.rsplit("/", 3)[-3] + "/" + t.via.rsplit("/", 1)[-1] if t.via else "",
        )
        for t in found
    ]


# ListBatches


def test_batches_by_data_time_unset_last(client: modelreg.Client, s: Scenario) -> None:
    found = list(client.list_batches(s.project))
    assert all(isinstance(b, Batch) for b in found)
    assert [(b.dataset_version.dataset, b.dataset_version.version) for b in found] == [
        ("clicks", "b1"), ("clicks", "b2"), ("clicks", "b3"), ("extra", "x"),
    ]  # fmt: skip
    assert [b.batch_id for b in found] == [*BATCH_IDS, BATCH_IDS[2]]
    # b3 trained v3 and v4; extra/x trained v3; holdout (no batch id) is not a batch.
    assert [b.model_version_count for b in found] == [1, 1, 2, 1]
    assert found[0].dataset_version == s.b1 and found[0].resource_name == s.b1.resource_name
    assert found[0].data_start_time == s.b1.data_start_time
    assert found[3].data_start_time is None and found[3].data_end_time is None
    only = list(client.list_batches(s.project, "extra"))
    assert [b.dataset_version for b in only] == [s.extra]
    assert list(client.list_batches(s.project, "nosuch")) == []
    # A deleted version no longer counts.
    client.delete_model_version(s.project, "detector", 4)
    assert [b.model_version_count for b in client.list_batches(s.project)] == [1, 1, 1, 1]
    with pytest.raises(modelreg.NotFoundError):
        list(client.list_batches("nosuch_project"))


def test_batches_page(lineage: Any, s: Scenario) -> None:
    parent = f"projects/{s.project}"
    seen, token, pages = [], "", 0
    while True:
        page = lineage.ListBatches(
            rpc.ListBatchesRequest(parent=parent, page_size=1, page_token=token), timeout=10
        )
        pages += 1
        seen += [b.dataset_version.name for b in page.batches]
        token = page.next_page_token
        if not token:
            break
    assert seen == [s.b1.resource_name, s.b2.resource_name, s.b3.resource_name,
                    s.extra.resource_name]  # fmt: skip
    assert pages == 4
    first = lineage.ListBatches(rpc.ListBatchesRequest(parent=parent, page_size=1), timeout=10)
    # A token continues only its own listing.
    other = rpc.ListBatchesRequest(
        parent=parent, dataset="clicks", page_size=1, page_token=first.next_page_token
    )
    assert_raw_invalid(lineage.ListBatches, other, "page_token")
    assert_raw_invalid(
        lineage.ListBatches, rpc.ListBatchesRequest(parent=parent, page_size=-1), "page_size"
    )
    assert_raw_invalid(lineage.ListBatches, rpc.ListBatchesRequest(parent="p"), "parent")
    assert_raw_invalid(
        lineage.ListBatches, rpc.ListBatchesRequest(parent=parent, dataset="Bad!"), "dataset"
    )


# ListVersionsTrainedOn


def test_versions_trained_on_a_batch_id(client: modelreg.Client, s: Scenario) -> None:
    direct = client.versions_trained_on(s.project, BATCH_IDS[0], direct_only=True)
    assert _trained(direct) == [("detector", 1, "clicks/b1", "TRAIN", 0, "")]
    assert direct[0].direct and direct[0].model_version == s.v1
    # Transitively: every version fine-tuned from v1, in any model of the project, by
    # model then number.
    found = client.versions_trained_on(s.project, BATCH_IDS[0])
    assert all(isinstance(t, TrainedVersion) for t in found)
    assert _trained(found) == [
        ("detector", 1, "clicks/b1", "TRAIN", 0, ""),
        ("detector", 2, "clicks/b1", "TRAIN", 1, "detector/1"),
        ("detector", 3, "clicks/b1", "TRAIN", 2, "detector/1"),
        ("detector", 4, "clicks/b1", "TRAIN", 1, "detector/1"),
        ("other", 1, "clicks/b1", "TRAIN", 2, "detector/1"),
    ]
    assert found[1].via == s.v1.resource_name and found[1].resource_name == s.v2.resource_name
    # A batch id names every dataset version of the project with it: v3 trained on two.
    assert _trained(client.versions_trained_on(s.project, BATCH_IDS[2])) == [
        ("detector", 3, "clicks/b3", "TRAIN", 0, ""),
        ("detector", 3, "extra/x", "TRAIN", 0, ""),
        ("detector", 4, "clicks/b3", "TRAIN", 0, ""),
    ]
    assert client.versions_trained_on(s.project, "1999-01-01") == []


def test_versions_trained_on_a_dataset_version(client: modelreg.Client, s: Scenario) -> None:
    assert _trained(client.versions_trained_on(s.project, dataset_version=s.b2)) == [
        ("detector", 2, "clicks/b2", "TRAIN", 0, ""),
        ("detector", 3, "clicks/b2", "TRAIN", 1, "detector/2"),
        ("other", 1, "clicks/b2", "TRAIN", 1, "detector/2"),
    ]
    # Any role; the nearest use wins (v2 validated on holdout itself, not only via v1).
    by_role = client.versions_trained_on(s.project, dataset_version=s.holdout.resource_name)
    assert _trained(by_role) == [
        ("detector", 1, "holdout/v1", "VALIDATION", 0, ""),
        ("detector", 2, "holdout/v1", "VALIDATION", 0, ""),
        ("detector", 3, "holdout/v1", "VALIDATION", 1, "detector/2"),
        ("detector", 4, "holdout/v1", "VALIDATION", 1, "detector/1"),
        ("other", 1, "holdout/v1", "VALIDATION", 1, "detector/2"),
    ]
    assert by_role[0].role is DataRole.VALIDATION
    # Deleted versions are not listed, but their descendants still learned through them.
    client.delete_model_version(s.project, "detector", 2)
    assert _trained(client.versions_trained_on(s.project, dataset_version=s.b2)) == [
        ("detector", 3, "clicks/b2", "TRAIN", 1, "detector/2"),
        ("other", 1, "clicks/b2", "TRAIN", 1, "detector/2"),
    ]
    missing = f"projects/{s.project}/datasets/clicks/versions/b9"
    with pytest.raises(modelreg.NotFoundError):
        client.versions_trained_on(s.project, dataset_version=missing)
    with pytest.raises(ValueError, match="one of the two"):
        client.versions_trained_on(s.project)
    with pytest.raises(ValueError, match="one of the two"):
        client.versions_trained_on(s.project, "b", dataset_version=s.b2)


def test_versions_trained_on_page_and_errors(lineage: Any, s: Scenario) -> None:
    parent = f"projects/{s.project}"
    seen, token = [], ""
    while True:
        page = lineage.ListVersionsTrainedOn(
            rpc.ListVersionsTrainedOnRequest(
                parent=parent, batch_id=BATCH_IDS[0], page_size=2, page_token=token
            ),
            timeout=10,
        )
        assert len(page.versions) <= 2
        seen += [(v.model_version.name, v.generations) for v in page.versions]
        token = page.next_page_token
        if not token:
            break
    assert seen == [
        (s.v1.resource_name, 0), (s.v2.resource_name, 1), (s.v3.resource_name, 2),
        (s.v4.resource_name, 1), (s.other.resource_name, 2),
    ]  # fmt: skip
    first = lineage.ListVersionsTrainedOn(
        rpc.ListVersionsTrainedOnRequest(parent=parent, batch_id=BATCH_IDS[0], page_size=2),
        timeout=10,
    )
    call = lineage.ListVersionsTrainedOn
    direct = rpc.ListVersionsTrainedOnRequest(
        parent=parent, batch_id=BATCH_IDS[0], direct_only=True, page_token=first.next_page_token
    )
    assert_raw_invalid(call, direct, "page_token")
    assert_raw_invalid(call, rpc.ListVersionsTrainedOnRequest(parent=parent), "batch_id")
    both = rpc.ListVersionsTrainedOnRequest(
        parent=parent, batch_id="b", dataset_version=s.b1.resource_name
    )
    assert_raw_invalid(call, both, "dataset_version")
    bad = rpc.ListVersionsTrainedOnRequest(parent=parent, dataset_version="projects/x/b1")
    assert_raw_invalid(call, bad, "dataset_version")
    negative = rpc.ListVersionsTrainedOnRequest(parent=parent, batch_id="b", page_size=-1)
    assert_raw_invalid(call, negative, "page_size")
    assert_raw_invalid(call, rpc.ListVersionsTrainedOnRequest(batch_id="b"), "parent")
    long = rpc.ListVersionsTrainedOnRequest(parent=parent, batch_id="b" * 300)
    assert_raw_invalid(call, long, "batch_id")
    code, _ = raw_failure(
        call, rpc.ListVersionsTrainedOnRequest(parent="projects/nosuch", batch_id="b")
    )
    assert code == grpc.StatusCode.NOT_FOUND


# ListBatchesBehindVersion


def _behind(found: list[BatchBehind]) -> list[tuple[str, str, str, int]]:
    return [
        (
            f"{b.dataset_version.dataset}/{b.dataset_version.version}",
            b.role.value,
            b.model_version.rsplit("/", 3)[-3] + "/" + b.model_version.rsplit("/", 1)[-1],
            b.generations,
        )
        for b in found
    ]


def test_batches_behind_a_version(client: modelreg.Client, s: Scenario) -> None:
    found = client.batches_behind(s.v3)
    assert all(isinstance(b, BatchBehind) for b in found)
    # Nearest generation first, then in training-data order; each once (holdout is
    # behind v2 and v1: listed at v2).
    assert _behind(found) == [
        ("clicks/b3", "TRAIN", "detector/3", 0),
        ("extra/x", "TRAIN", "detector/3", 0),
        ("clicks/b2", "TRAIN", "detector/2", 1),
        ("holdout/v1", "VALIDATION", "detector/2", 1),
        ("clicks/b1", "TRAIN", "detector/1", 2),
    ]
    assert found[0].dataset_version == s.b3 and found[0].batch_id == BATCH_IDS[2]
    assert found[3].batch_id == "" and found[0].resource_name == s.b3.resource_name
    assert _behind(client.batches_behind(s.v3, direct_only=True)) == _behind(found)[:2]
    # Across models, by name, by alias, or by (project, model, alias).
    assert _behind(client.batches_behind(s.other.resource_name)) == [
        ("clicks/b2", "TRAIN", "detector/2", 1),
        ("holdout/v1", "VALIDATION", "detector/2", 1),
        ("clicks/b1", "TRAIN", "detector/1", 2),
    ]
    assert client.batches_behind(s.other, direct_only=True) == []
    client.set_alias(s.project, "detector", "production", 4)
    assert _behind(client.batches_behind((s.project, "detector", "production"))) == [
        ("clicks/b3", "TRAIN", "detector/4", 0),
        ("clicks/b1", "TRAIN", "detector/1", 1),
        ("holdout/v1", "VALIDATION", "detector/1", 1),
    ]
    with pytest.raises(modelreg.NotFoundError):
        client.batches_behind((s.project, "detector", 9))


def test_batches_behind_errors(lineage: Any, s: Scenario) -> None:
    call = lineage.ListBatchesBehindVersion
    response = call(rpc.ListBatchesBehindVersionRequest(name=s.v2.resource_name), timeout=10)
    assert not response.truncated and len(response.batches) == 3
    assert_raw_invalid(call, rpc.ListBatchesBehindVersionRequest(name=""), "name")
    bad = rpc.ListBatchesBehindVersionRequest(name=f"projects/{s.project}/models/detector")
    assert_raw_invalid(call, bad, "name")
    missing = f"projects/{s.project}/models/nosuch/versions/1"
    code, status = raw_failure(call, rpc.ListBatchesBehindVersionRequest(name=missing))
    assert code == grpc.StatusCode.NOT_FOUND and "nosuch" in status.message


# GetBatchMetricSeries


def _series(points: list[BatchMetricPoint]) -> list[tuple[str, int, float | None]]:
    return [(p.batch_id, p.version, p.value) for p in points]


def test_series_from_evaluations(client: modelreg.Client, s: Scenario) -> None:
    points = client.batch_metric_series(s.project, "detector", "auc", dataset=s.holdout)
    assert all(isinstance(p, BatchMetricPoint) for p in points)
    # In the order of the batches' data times; v3 is placed at b3, its newest TRAIN batch
    # (extra/x has no time range); v4 has no evaluation.
    assert _series(points) == [
        (BATCH_IDS[0], 1, 0.70), (BATCH_IDS[1], 2, 0.80), (BATCH_IDS[2], 3, 0.85),
        (BATCH_IDS[2], 4, None),
    ]  # fmt: skip
    first = points[0]
    assert (first.dataset_version, first.model_version) == (
        s.b1.resource_name, s.v1.resource_name,
    )  # fmt: skip
    assert (first.data_start_time, first.data_end_time) == (
        s.b1.data_start_time, s.b1.data_end_time,
    )  # fmt: skip
    assert points[2].dataset_version == s.b3.resource_name
    kr = client.batch_metric_series(
        s.project, "detector", "auc", dataset=s.holdout.resource_name, slice="kr"
    )
    assert [p.value for p in kr] == [None, 0.60, None, None]
    assert [p.value for p in client.batch_metric_series(
        s.project, "detector", "recall", dataset=s.holdout)] == [None] * 4  # fmt: skip
    # A later evaluation replaces the value; a deleted version leaves the series.
    client.log_evaluation(s.v1, dataset=s.holdout, metrics={"auc": 0.72})
    client.delete_model_version(s.project, "detector", 4)
    assert _series(client.batch_metric_series(s.project, "detector", "auc", dataset=s.holdout)) == [
        (BATCH_IDS[0], 1, 0.72), (BATCH_IDS[1], 2, 0.80), (BATCH_IDS[2], 3, 0.85),
    ]  # fmt: skip
    # A model whose versions trained on no batch has no points.
    assert client.batch_metric_series(s.project, "other", "auc", dataset=s.holdout) == []


def test_series_from_source_runs(client: modelreg.Client, s: Scenario) -> None:
    points = client.batch_metric_series(s.project, "detector", "auc")
    assert _series(points) == [
        (BATCH_IDS[0], 1, 0.70), (BATCH_IDS[1], 2, 0.75), (BATCH_IDS[2], 3, 0.90),
        (BATCH_IDS[2], 4, None),
    ]  # fmt: skip
    with pytest.raises(ValueError, match="give dataset too"):
        client.batch_metric_series(s.project, "detector", "auc", slice="kr")
    with pytest.raises(modelreg.NotFoundError):
        client.batch_metric_series(s.project, "nosuch", "auc")


def test_series_errors(lineage: Any, s: Scenario) -> None:
    call = lineage.GetBatchMetricSeries
    model = f"projects/{s.project}/models/detector"
    holdout = s.holdout.resource_name
    assert_raw_invalid(call, rpc.GetBatchMetricSeriesRequest(model=model), "metric")
    assert_raw_invalid(
        call, rpc.GetBatchMetricSeriesRequest(model=model, metric="1bad key"), "metric"
    )
    assert_raw_invalid(call, rpc.GetBatchMetricSeriesRequest(metric="auc"), "model")
    assert_raw_invalid(
        call, rpc.GetBatchMetricSeriesRequest(model=model, metric="auc", slice="kr"), "slice"
    )
    missing = f"projects/{s.project}/datasets/holdout/versions/v9"
    request = rpc.GetBatchMetricSeriesRequest(model=model, metric="auc", dataset_version=missing)
    status = assert_raw_invalid(call, request, "dataset_version")
    assert missing in status.message
    request = rpc.GetBatchMetricSeriesRequest(
        model=model, metric="auc", dataset_version=holdout, slice="s" * 300
    )
    assert_raw_invalid(call, request, "slice")
    request = rpc.GetBatchMetricSeriesRequest(model=model, metric="auc", dataset_version="x")
    assert_raw_invalid(call, request, "dataset_version")


# Bounds


def test_long_chains_are_bounded(
    lineage: Any, sync_client: modelreg.Client, project: str, database_url: str
) -> None:
    """A chain of 10,052 versions (made in SQL: through the API it would take minutes),
    v1 trained on b1, v10050 on b2: the walks stop at 10,000 rows or generations."""
    b1, b2 = (
        sync_client.create_dataset_version(project, "d", version=v, uri="s3://d", batch_id=v)
        for v in ("b1", "b2")
    )
    sync_client.register_model_version(project, "long", artifact_uri="s3://m", training_data=[b1])
    sql(database_url, f"""
        DO $$
        DECLARE mid bigint; prev bigint;
        BEGIN
          SELECT m.id INTO mid FROM models m JOIN projects p ON p.id = m.project_id
           WHERE p.name = '{project}' AND m.name = 'long';
          SELECT id INTO prev FROM model_versions WHERE model_id = mid AND version = 1;
          FOR i IN 2..10052 LOOP
            INSERT INTO model_versions (model_id, version, artifact_uri, parent_id)
            VALUES (mid, i, 's3://m', prev) RETURNING id INTO prev;
          END LOOP;
          UPDATE models SET version_count = 10052 WHERE id = mid;
          INSERT INTO model_version_data
                 (version_id, position, dataset, version, batch_id, role, dataset_version_id)
          SELECT v.id, 0, 'd', 'b2', 'b2', 'TRAIN', dv.id
            FROM model_versions v, dataset_versions dv JOIN datasets s ON s.id = dv.dataset_id
           WHERE v.model_id = mid AND v.version = 10050 AND s.project_id = (
                 SELECT project_id FROM models WHERE id = mid) AND dv.version = 'b2';
        END $$;
    """)  # fmt: skip
    with pytest.warns(UserWarning, match="cut at 1"):
        behind = sync_client.batches_behind((project, "long", 10052))
    assert [(b.resource_name, b.generations) for b in behind] == [(b2.resource_name, 2)]
    assert sync_client.batches_behind((project, "long", 10052), direct_only=True) == []
    # Nothing within reach, and the chain cut: still truncated.
    far = lineage.ListBatchesBehindVersion(
        rpc.ListBatchesBehindVersionRequest(name=f"projects/{project}/models/long/versions/10040"),
        timeout=30,
    )
    assert (len(far.batches), far.truncated) == (0, True)
    # The versions that learned from b1: the nearest 10,000 generations.
    seen, token = [], ""
    while True:
        page = lineage.ListVersionsTrainedOn(
            rpc.ListVersionsTrainedOnRequest(
                parent=f"projects/{project}", batch_id="b1", page_size=1000, page_token=token
            ),
            timeout=30,
        )
        seen += [(v.model_version.version, v.generations) for v in page.versions]
        token = page.next_page_token
        if not token:
            break
    assert seen == [(n, n - 1) for n in range(1, 10_001)]
