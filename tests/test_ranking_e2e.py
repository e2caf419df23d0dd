"""RankModelVersions over real gRPC: maximise and minimise, ties broken by
registration, filters (params, labels, state, training data, model), a whole
project, ranks carried across pages, and what is refused."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest

import modelreg
from modelreg.api.v1 import resources_pb2 as pb
from modelreg.api.v1 import tracking_service_pb2 as rpc
from tests.support import ACTOR, dataset_version, sql, tracking_stub

T = 10
MAX, MIN = rpc.GOAL_MAXIMIZE, rpc.GOAL_MINIMIZE


@pytest.fixture
def tracking(target: str) -> Iterator[Any]:
    with tracking_stub(target) as stub:
        yield stub


def _evaluate(
    tracking: Any, version: str, dv: str, metrics: dict[str, float], slice: str = ""
) -> pb.Evaluation:
    return tracking.CreateEvaluation(  # type: ignore[no-any-return]
        rpc.CreateEvaluationRequest(
            parent=version,
            evaluation=pb.Evaluation(dataset_version=dv, metrics=metrics, slice=slice),
        ),
        metadata=ACTOR,
        timeout=T,
    )


def _rank(
    tracking: Any, parent: str, dv: str, goal: int = MAX, **kw: Any
) -> list[tuple[int, str, float]]:
    """Every page: (rank, model/number, score)."""
    rows: list[tuple[int, str, float]] = []
    token = ""
    kw.setdefault("metric", "precision")
    while True:
        page = tracking.RankModelVersions(
            rpc.RankModelVersionsRequest(
                parent=parent,
                dataset_version=dv,
                goal=goal,  # type: ignore[arg-type]
                page_token=token,
                **kw,
            ),
            timeout=T,
        )
        for r in page.ranked:
            mv = r.model_version
            assert r.evaluation.startswith(mv.name + "/evaluations/")
            rows.append((r.rank, f"{mv.name.split('/')[3]}/{mv.version}", r.score))
        token = page.next_page_token
        if not token:
            return rows


@pytest.fixture
def scored(tracking: Any, sync_client: modelreg.Client, project: str) -> dict[str, Any]:
    """Model m: versions 1..5 scored 0.7, 0.9, 0.7, 0.8, none on `test`; model n: one 0.95."""
    test = dataset_version(tracking, project, "test", "v1").name
    other = dataset_version(tracking, project, "other", "v1").name
    train = dataset_version(tracking, project, "train", "b1", batch_id="2024-11-06").name
    scores = [0.7, 0.9, 0.7, 0.8, None]
    for i, score in enumerate(scores, 1):
        v = sync_client.register_model_version(
            project,
            "m",
            artifact_uri=f"s3://m/{i}",
            params={"lr": 0.01 * i},
            labels={"team": "nlp" if i % 2 else "cv"},
            training_data=[{"dataset": "train", "version": "b1"}] if i in (2, 3) else [],
        )
        if score is not None:
            _evaluate(tracking, v.resource_name, test, {"precision": score, "loss": 1 - score})
        _evaluate(tracking, v.resource_name, other, {"precision": 1 - (score or 0)})
    n = sync_client.register_model_version(project, "n", artifact_uri="s3://n/1")
    _evaluate(tracking, n.resource_name, test, {"precision": 0.95})
    return {"test": test, "other": other, "train": train, "project": project}


def test_max_min_ties_and_the_latest_evaluation(
    tracking: Any, scored: dict[str, Any], sync_client: modelreg.Client
) -> None:
    p, test = scored["project"], scored["test"]
    model = f"projects/{p}/models/m"
    assert _rank(tracking, model, test) == [
        (1, "m/2", 0.9), (2, "m/4", 0.8), (3, "m/1", 0.7), (4, "m/3", 0.7),
    ]  # fmt: skip
    assert _rank(tracking, model, test, MIN) == [
        (1, "m/1", 0.7), (2, "m/3", 0.7), (3, "m/4", 0.8), (4, "m/2", 0.9),
    ]  # fmt: skip
    assert [r[1] for r in _rank(tracking, model, test, MIN, metric="loss")][:1] == ["m/2"]
    # A later evaluation replaces the score.
    _evaluate(tracking, f"{model}/versions/1", test, {"precision": 0.99})
    assert _rank(tracking, model, test, page_size=1)[0] == (1, "m/1", 0.99)
    # Paging keeps counting ranks, for both goals.
    for goal in (MAX, MIN):
        whole = _rank(tracking, model, test, goal)
        assert _rank(tracking, model, test, goal, page_size=1) == whole
        assert _rank(tracking, model, test, goal, page_size=3) == whole
        assert [r[0] for r in whole] == list(range(1, len(whole) + 1))


def test_project_wide_filters_and_deleted_versions(
    tracking: Any, scored: dict[str, Any], sync_client: modelreg.Client
) -> None:
    p, test, train = scored["project"], scored["test"], scored["train"]
    project, model = f"projects/{p}", f"projects/{p}/models/m"
    assert [r[1] for r in _rank(tracking, project, test)] == ["n/1", "m/2", "m/4", "m/1", "m/3"]
    cases = {
        'model = "m"': ["m/2", "m/4", "m/1", "m/3"],
        'model != "m"': ["n/1"],
        "params.lr < 0.025": ["m/2", "m/1"],
        'labels.team = "nlp"': ["m/1", "m/3"],
        f'training_data.dataset_version = "{train}"': ["m/2", "m/3"],
        f'training_data.dataset_version != "{train}"': ["n/1", "m/4", "m/1"],
        'training_data.batch_id = "2024-11-06"': ["m/2", "m/3"],
        'training_data.dataset = "train"': ["m/2", "m/3"],
        'training_data.dataset = "nope"': [],
        "version >= 3": ["m/4", "m/3"],
        # Injection attempts: values, never SQL.
        "labels.team = \"x' OR '1'='1\"": [],
        'model = "m\\"; DROP TABLE version_scores; --"': [],
    }
    for text, expected in cases.items():
        assert [r[1] for r in _rank(tracking, project, test, filter=text)] == expected, text
    sync_client.archive_model_version(p, "m", 2)
    assert [r[1] for r in _rank(tracking, model, test)][:1] == ["m/2"]  # archived still ranks
    assert [r[1] for r in _rank(tracking, model, test, filter='state = "READY"')][:1] == ["m/4"]
    sync_client.delete_model_version(p, "m", 2)
    assert "m/2" not in [r[1] for r in _rank(tracking, model, test)]
    # Another dataset version, or a slice nobody scored, ranks other rows or none.
    assert _rank(tracking, model, scored["other"])[0][1] == "m/5"
    assert _rank(tracking, model, test, slice="kr") == []


def test_refusals(tracking: Any, scored: dict[str, Any], database_url: str) -> None:
    p, test = scored["project"], scored["test"]
    model = f"projects/{p}/models/m"
    (before,) = sql(database_url, "SELECT count(*) AS n FROM version_scores")

    def error(**kw: Any) -> tuple[grpc.StatusCode, str]:
        values = {"parent": model, "dataset_version": test, "metric": "precision", "goal": MAX}
        values.update(kw)
        with pytest.raises(grpc.RpcError) as info:
            tracking.RankModelVersions(rpc.RankModelVersionsRequest(**values), timeout=T)
        return info.value.code(), info.value.details() or ""

    invalid: list[tuple[dict[str, Any], str]] = [
        ({"goal": rpc.GOAL_UNSPECIFIED}, "goal"),
        ({"goal": 7}, "goal"),
        ({"metric": ""}, "metric"),
        ({"metric": "1x"}, "metric"),
        ({"dataset_version": ""}, "dataset_version"),
        ({"dataset_version": f"projects/{p}/datasets/test"}, "dataset_version"),
        ({"dataset_version": f"projects/{p}/datasets/test/versions/v9"}, "dataset_version"),
        ({"slice": "x" * 257}, "slice"),
        ({"filter": "nope = 1"}, "filter"),
        ({"filter": 'training_data.dataset_version = "x"'}, "filter"),
        (
            {"filter": 'training_data.dataset_version > "projects/a/datasets/b/versions/c"'},
            "filter",
        ),
        ({"filter": 'labels.team = "nlp" OR 1=1'}, "filter"),
        ({"page_size": -1}, "page_size"),
        ({"page_token": "garbage"}, "page_token"),
        ({"parent": "projects"}, "parent"),
        ({"parent": f"projects/{p}/models/m/versions/1"}, "parent"),
    ]
    for kw, field in invalid:
        code, details = error(**kw)
        assert code == grpc.StatusCode.INVALID_ARGUMENT, (kw, details)
        assert details.startswith(field), (kw, details)
    page = tracking.RankModelVersions(
        rpc.RankModelVersionsRequest(
            parent=model, dataset_version=test, metric="precision", goal=MAX, page_size=1
        ),
        timeout=T,
    )
    code, details = error(page_token=page.next_page_token, goal=MIN)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("page_token")
    for kw, kind in [
        ({"parent": "projects/no_such"}, "project"),
        ({"parent": f"projects/{p}/models/x"}, "model"),
    ]:
        code, details = error(**kw)
        assert code == grpc.StatusCode.NOT_FOUND and details.startswith(f"{kind} not found")
    (after,) = sql(database_url, "SELECT count(*) AS n FROM version_scores")
    assert after["n"] == before["n"]


def test_an_empty_model_ranks_nothing(
    tracking: Any, sync_client: modelreg.Client, project: str
) -> None:
    test = dataset_version(tracking, project, "test").name
    sync_client.register_model_version(project, "m", artifact_uri="s3://m/1")
    assert _rank(tracking, f"projects/{project}/models/m", test) == []
    assert _rank(tracking, f"projects/{project}", test) == []
