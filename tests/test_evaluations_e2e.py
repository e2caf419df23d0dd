"""Evaluations and comparing versions over real gRPC: ids made and given, the
latest evaluation's value as the version's score, bad input named with nothing
written, NOT_FOUND against INVALID_ARGUMENT, idempotent retries, and the
side-by-side comparison."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

import modelreg
from modelreg.api.v1 import resources_pb2 as pb
from modelreg.api.v1 import tracking_service_pb2 as rpc
from tests.support import ACTOR, dataset_version, insert_run, sql, tracking_stub

T = 10


@pytest.fixture
def tracking(target: str) -> Iterator[Any]:
    with tracking_stub(target) as stub:
        yield stub


def _evaluate(
    tracking: Any, parent: str, dv: str, metrics: dict[str, float], **kw: Any
) -> pb.Evaluation:
    request_id = kw.pop("request_id", "")
    evaluation_id = kw.pop("evaluation_id", "")
    return tracking.CreateEvaluation(  # type: ignore[no-any-return]
        rpc.CreateEvaluationRequest(
            parent=parent,
            evaluation_id=evaluation_id,
            evaluation=pb.Evaluation(dataset_version=dv, metrics=metrics, **kw),
            request_id=request_id,
        ),
        metadata=ACTOR,
        timeout=T,
    )


def _error(call: Any, request: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        call(request, timeout=T, metadata=ACTOR)
    return info.value.code(), info.value.details() or ""


def _counts(database_url: str) -> tuple[int, int]:
    (row,) = sql(
        database_url,
        "SELECT (SELECT count(*) FROM evaluations) AS e, (SELECT count(*) FROM version_scores) s",
    )
    return row["e"], row["s"]


def _scores(database_url: str, version: str) -> dict[tuple[str, str], tuple[float, str]]:
    project, model, number = version.split("/")[1::2]
    rows = sql(
        database_url,
        "SELECT s.slice, s.key, s.value, e.evaluation_id FROM version_scores s "
        "JOIN evaluations e ON e.id = s.evaluation_id "
        "JOIN model_versions v ON v.id = s.version_id JOIN models m ON m.id = v.model_id "
        "JOIN projects p ON p.id = m.project_id "
        "WHERE p.name = $1 AND m.name = $2 AND v.version = $3",
        project,
        model,
        int(number),
    )
    return {(r["slice"], r["key"]): (r["value"], r["evaluation_id"]) for r in rows}


def test_create_get_list_and_the_latest_value_is_the_score(
    tracking: Any, sync_client: modelreg.Client, project: str, database_url: str
) -> None:
    v = sync_client.register_model_version(project, "m", artifact_uri="s3://m/1")
    test = dataset_version(tracking, project, "test", "2024-q3").name
    run = insert_run(database_url, project, "run-7")
    first = _evaluate(
        tracking,
        v.resource_name,
        test,
        {"precision": 0.78, "recall": 0.74},
        run=run,
        labels={"k": "v"},
    )
    assert first.name == f"{v.resource_name}/evaluations/eval_1"
    assert first.dataset_version == test
    assert dict(first.metrics) == {"precision": 0.78, "recall": 0.74}
    assert first.run == run and dict(first.labels) == {"k": "v"}
    assert first.created_by == "tester" and first.create_time.seconds > 0
    given = _evaluate(tracking, v.resource_name, test, {"precision": 0.8}, evaluation_id="nightly")
    assert given.name.endswith("/evaluations/nightly")
    sliced = _evaluate(tracking, v.resource_name, test, {"precision": 0.5}, slice="country=kr")
    assert sliced.name.endswith("/evaluations/eval_2")
    # Latest wins per metric: precision from `nightly`, recall still from eval_1.
    assert _scores(database_url, v.resource_name) == {
        ("", "precision"): (0.8, "nightly"),
        ("", "recall"): (0.74, "eval_1"),
        ("country=kr", "precision"): (0.5, "eval_2"),
    }
    got = tracking.GetEvaluation(rpc.GetEvaluationRequest(name=first.name), timeout=T)
    assert got == first
    # By alias, too.
    sync_client.set_alias(project, "m", "production", 1)
    by_alias = tracking.ListEvaluations(
        rpc.ListEvaluationsRequest(parent=f"projects/{project}/models/m/versions/production"),
        timeout=T,
    )
    assert [e.name.rsplit("/", 1)[1] for e in by_alias.evaluations] == [
        "eval_1", "nightly", "eval_2",
    ]  # fmt: skip
    page = tracking.ListEvaluations(
        rpc.ListEvaluationsRequest(parent=v.resource_name, page_size=2), timeout=T
    )
    assert len(page.evaluations) == 2 and page.next_page_token
    rest = tracking.ListEvaluations(
        rpc.ListEvaluationsRequest(parent=v.resource_name, page_token=page.next_page_token),
        timeout=T,
    )
    assert [e.name.rsplit("/", 1)[1] for e in rest.evaluations] == ["eval_2"]
    code, _ = _error(
        tracking.CreateEvaluation,
        rpc.CreateEvaluationRequest(
            parent=v.resource_name,
            evaluation_id="nightly",
            evaluation=pb.Evaluation(dataset_version=test, metrics={"x": 1}),
        ),
    )
    assert code == grpc.StatusCode.ALREADY_EXISTS


def test_retries_with_a_request_id_record_once(
    tracking: Any, sync_client: modelreg.Client, project: str, database_url: str
) -> None:
    v = sync_client.register_model_version(project, "m", artifact_uri="s3://m/1")
    test = dataset_version(tracking, project, "test").name
    before = _counts(database_url)
    first = _evaluate(tracking, v.resource_name, test, {"bleu": 31.2}, request_id="e-1")
    assert _evaluate(tracking, v.resource_name, test, {"bleu": 31.2}, request_id="e-1") == first
    code, details = _error(
        tracking.CreateEvaluation,
        rpc.CreateEvaluationRequest(
            parent=v.resource_name,
            evaluation=pb.Evaluation(dataset_version=test, metrics={"bleu": 30.0}),
            request_id="e-1",
        ),
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("request_id")
    assert _counts(database_url) == (before[0] + 1, before[1] + 1)


BAD: list[tuple[dict[str, Any], str]] = [
    ({"dataset_version": ""}, "evaluation.dataset_version"),
    ({"dataset_version": "projects/x/datasets/d"}, "evaluation.dataset_version"),
    ({"dataset_version": "MISSING"}, "evaluation.dataset_version"),
    ({"metrics": {}}, "evaluation.metrics"),
    ({"metrics": {"1bad": 1.0}}, "evaluation.metrics['1bad']"),
    ({"metrics": {"nan": math.nan}}, "evaluation.metrics['nan']"),
    ({"metrics": {"inf": math.inf}}, "evaluation.metrics['inf']"),
    ({"metrics": {"ninf": -math.inf}}, "evaluation.metrics['ninf']"),
    ({"metrics": {f"m{i}": 1.0 for i in range(1001)}}, "evaluation.metrics"),
    ({"slice": "x" * 257}, "evaluation.slice"),
    ({"slice": "a\x00"}, "evaluation.slice"),
    ({"run": "run-1"}, "evaluation.run"),
    ({"run": "MISSING_RUN"}, "evaluation.run"),
    ({"labels": {"Bad": "x"}}, "evaluation.labels['Bad']"),
    ({"evaluation_id": "Bad"}, "evaluation_id"),
    ({"evaluation_id": "eval/1"}, "evaluation_id"),
    ({"parent": "projects/p/models/m"}, "parent"),
    ({"parent": "projects/p/models/m/versions/0"}, "parent"),
]


@pytest.mark.parametrize(("fields", "field"), BAD, ids=[f"{f}-{i}" for i, (_, f) in enumerate(BAD)])
def test_bad_field_is_named_and_nothing_is_written(
    tracking: Any,
    sync_client: modelreg.Client,
    project: str,
    database_url: str,
    fields: dict[str, Any],
    field: str,
) -> None:
    v = sync_client.register_model_version(project, "m", artifact_uri="s3://m/1")
    test = dataset_version(tracking, project, "test").name
    values: dict[str, Any] = {"dataset_version": test, "metrics": {"p": 0.5}, **fields}
    if values["dataset_version"] == "MISSING":
        values["dataset_version"] = f"projects/{project}/datasets/test/versions/v9"
    if values.get("run") == "MISSING_RUN":
        values["run"] = f"projects/{project}/runs/nope"
    parent = values.pop("parent", v.resource_name)
    evaluation_id = values.pop("evaluation_id", "")
    before = _counts(database_url)
    code, details = _error(
        tracking.CreateEvaluation,
        rpc.CreateEvaluationRequest(
            parent=parent, evaluation_id=evaluation_id, evaluation=pb.Evaluation(**values)
        ),
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT, details
    assert details.startswith(field), details
    assert _counts(database_url) == before


def test_not_found(tracking: Any, sync_client: modelreg.Client, project: str) -> None:
    v = sync_client.register_model_version(project, "m", artifact_uri="s3://m/1")
    test = dataset_version(tracking, project, "test").name
    for parent, kind in [
        ("projects/no_such/models/m/versions/1", "project"),
        (f"projects/{project}/models/x/versions/1", "model"),
        (f"projects/{project}/models/m/versions/2", "version"),
        (f"projects/{project}/models/m/versions/staging", "alias"),
    ]:
        code, details = _error(
            tracking.CreateEvaluation,
            rpc.CreateEvaluationRequest(
                parent=parent, evaluation=pb.Evaluation(dataset_version=test, metrics={"p": 1})
            ),
        )
        assert code == grpc.StatusCode.NOT_FOUND, parent
        assert details.startswith(f"{kind} not found"), details
    code, details = _error(
        tracking.GetEvaluation,
        rpc.GetEvaluationRequest(name=f"{v.resource_name}/evaluations/eval_9"),
    )
    assert (code, details) == (
        grpc.StatusCode.NOT_FOUND,
        f"evaluation not found: {v.resource_name}/evaluations/eval_9",
    )
    code, _ = _error(
        tracking.ListEvaluations,
        rpc.ListEvaluationsRequest(parent=f"projects/{project}/models/m/versions/3"),
    )
    assert code == grpc.StatusCode.NOT_FOUND


# Compare


def test_compare_shows_params_that_differ_and_metrics_per_dataset(
    tracking: Any, sync_client: modelreg.Client, project: str
) -> None:
    v1 = sync_client.register_model_version(
        project, "m", artifact_uri="s3://m/1", params={"lr": 0.01, "epochs": 10, "opt": "adam"}
    )
    v2 = sync_client.register_model_version(
        project, "m", artifact_uri="s3://m/2", params={"lr": 0.02, "epochs": 10}
    )
    v3 = sync_client.register_model_version(
        project, "m", artifact_uri="s3://m/3", params={"lr": 0.01, "epochs": 10, "opt": "adam"}
    )
    sync_client.set_alias(project, "m", "production", 2)
    a = dataset_version(tracking, project, "a").name
    b = dataset_version(tracking, project, "b").name
    _evaluate(tracking, v1.resource_name, a, {"precision": 0.7})
    e2 = _evaluate(tracking, v1.resource_name, a, {"precision": 0.75})
    e3 = _evaluate(tracking, v2.resource_name, b, {"precision": 0.9, "recall": 0.6})
    e4 = _evaluate(tracking, v3.resource_name, a, {"precision": 0.72}, slice="kr")
    got = tracking.CompareModelVersions(
        rpc.CompareModelVersionsRequest(
            parent=f"projects/{project}/models/m", versions=["1", "production", "3"]
        ),
        timeout=T,
    )
    assert [v.version for v in got.model_versions] == [1, 2, 3]
    assert got.model_versions[1].artifact.uri == v2.artifact.uri
    params = {p.key: p for p in got.params}
    assert list(params) == ["epochs", "lr", "opt"]
    assert not params["epochs"].differs
    assert params["lr"].differs and [x.float_value for x in params["lr"].values] == [
        0.01, 0.02, 0.01,
    ]  # fmt: skip
    assert params["opt"].differs
    assert [x.WhichOneof("kind") for x in params["opt"].values] == [
        "string_value", None, "string_value",
    ]  # fmt: skip
    rows = [
        (
            m.dataset_version,
            m.slice,
            m.metric,
            [(c.value if c.HasField("value") else None, c.evaluation) for c in m.values],
        )
        for m in got.metrics
    ]
    assert rows == [
        (a, "", "precision", [(0.75, e2.name), (None, ""), (None, "")]),
        (a, "kr", "precision", [(None, ""), (None, ""), (0.72, e4.name)]),
        (b, "", "precision", [(None, ""), (0.9, e3.name), (None, "")]),
        (b, "", "recall", [(None, ""), (0.6, e3.name), (None, "")]),
    ]
    same = tracking.CompareModelVersions(
        rpc.CompareModelVersionsRequest(
            parent=f"projects/{project}/models/m", versions=["1", "3", "latest"]
        ),
        timeout=T,
    )
    assert [v.version for v in same.model_versions] == [1, 3, 3]
    assert not any(p.differs for p in same.params)


def test_compare_refuses_missing_versions_and_bad_lists(
    tracking: Any, sync_client: modelreg.Client, project: str
) -> None:
    sync_client.register_model_version(project, "m", artifact_uri="s3://m/1")
    parent = f"projects/{project}/models/m"
    cases = [
        (["1", "2"], grpc.StatusCode.NOT_FOUND, f"version not found: {parent}/versions/2"),
        (["staging"], grpc.StatusCode.NOT_FOUND, f"alias not found: {parent}/versions/staging"),
        ([], grpc.StatusCode.INVALID_ARGUMENT, "versions"),
        (["1"] * 101, grpc.StatusCode.INVALID_ARGUMENT, "versions"),
        (["1", "Bad!"], grpc.StatusCode.INVALID_ARGUMENT, "versions[1]"),
        (["0"], grpc.StatusCode.INVALID_ARGUMENT, "versions[0]"),
    ]
    for versions, code, start in cases:
        got_code, details = _error(
            tracking.CompareModelVersions,
            rpc.CompareModelVersionsRequest(parent=parent, versions=versions),
        )
        assert (got_code, details.startswith(start)) == (code, True), (versions, details)
    code, details = _error(
        tracking.CompareModelVersions,
        rpc.CompareModelVersionsRequest(parent=f"projects/{project}/models/x", versions=["1"]),
    )
    assert code == grpc.StatusCode.NOT_FOUND and details.startswith("model not found")
