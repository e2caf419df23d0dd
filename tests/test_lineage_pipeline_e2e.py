"""GetLineage through pipeline steps, end to end over gRPC: STEP_OF, STEP_INPUT
and STEP_OUTPUT both ways with their roles, a batch reaching production through a
pipeline's steps, and a step's reference to a resource deleted since, dropped.

The world: pipeline ``nightly`` run ``run_001`` with steps
``train`` (batch -> detector v1), ``validate`` (v1, holdout -> eval_1) and
``deploy`` (v1 -> deployment prod); a step ``register`` of another run made
model ``gone``'s version 1, and model ``gone`` was deleted since."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import modelreg
from modelreg.api.v1 import lineage_service_pb2 as rpc
from modelreg.api.v1 import resources_pb2 as pb
from tests.conftest import unique
from tests.pipeline_support import Step, create, record, ref

UP = rpc.LINEAGE_DIRECTION_UPSTREAM
DOWN = rpc.LINEAGE_DIRECTION_DOWNSTREAM
E = pb.LineageEdgeKind


@pytest.fixture(scope="module")
def world(target: str) -> Iterator[dict[str, str]]:
    with modelreg.Client(target, actor="tester") as c:
        p = unique("pipe")
        c.create_project(p)
        lin = c.lineage_stub
        batch = c.create_dataset_version(
            p, "events", uri="s3://d/b", version="b1", batch_id="2024-11-06"
        )
        holdout = c.create_dataset_version(p, "holdout", uri="s3://d/h", version="h1")
        run = create(lin, p, "nightly", definition_version="git:ab12cd").name
        v1 = c.register_model_version(p, "detector", artifact_uri="s3://m/1")
        done = Step.SUCCEEDED
        record(
            lin, run, "train", done, [ref(batch.resource_name, role="train")], [v1.resource_name]
        )
        ev = c.log_evaluation(v1, dataset=holdout, metrics={"acc": 0.9}, evaluation_id="e1")
        record(
            lin,
            run,
            "validate",
            done,
            [v1.resource_name, holdout.resource_name],
            [ev.resource_name],
        )
        c.create_deployment(p, "prod", model="detector", traffic={1: 100})
        prod = f"projects/{p}/deployments/prod"
        record(lin, run, "deploy", done, [v1.resource_name], [ref(prod, role="serving")])
        gone = c.register_model_version(p, "gone", artifact_uri="s3://m/g")
        other = create(lin, p, "nightly").name
        record(lin, other, "register", done, [batch.resource_name], [gone.resource_name])
        c.delete_model(p, "gone", force=True)
        yield {
            "batch": batch.resource_name,
            "holdout": holdout.resource_name,
            "run": run,
            "train": f"{run}/steps/train",
            "validate": f"{run}/steps/validate",
            "deploy": f"{run}/steps/deploy",
            "v1": v1.resource_name,
            "eval": ev.resource_name,
            "prod": prod,
            "other": other,
            "register": f"{other}/steps/register",
            "gone": gone.resource_name,
        }


@pytest.fixture(scope="module")
def lineage(target: str) -> Iterator[Any]:
    with modelreg.Client(target, actor="tester") as c:
        yield c.lineage_stub


def get(stub: Any, resource: str, direction: int, **fields: Any) -> rpc.GetLineageResponse:
    request = rpc.GetLineageRequest(resource=resource, direction=direction, **fields)
    response: rpc.GetLineageResponse = stub.GetLineage(request, timeout=30)
    return response


def edges(response: rpc.GetLineageResponse) -> set[tuple[str, str, int, str]]:
    return {(e.upstream, e.downstream, e.kind, e.role) for e in response.edges}


@pytest.mark.parametrize(
    ("up", "down", "kind", "role"),
    [
        ("run", "train", E.LINEAGE_EDGE_KIND_STEP_OF, ""),
        ("run", "deploy", E.LINEAGE_EDGE_KIND_STEP_OF, ""),
        ("batch", "train", E.LINEAGE_EDGE_KIND_STEP_INPUT, "train"),
        ("train", "v1", E.LINEAGE_EDGE_KIND_STEP_OUTPUT, ""),
        ("v1", "validate", E.LINEAGE_EDGE_KIND_STEP_INPUT, ""),
        ("holdout", "validate", E.LINEAGE_EDGE_KIND_STEP_INPUT, ""),
        ("validate", "eval", E.LINEAGE_EDGE_KIND_STEP_OUTPUT, ""),
        ("deploy", "prod", E.LINEAGE_EDGE_KIND_STEP_OUTPUT, "serving"),
    ],
)
def test_step_edges_both_ways(
    lineage: Any, world: dict[str, str], up: str, down: str, kind: int, role: str
) -> None:
    edge = (world[up], world[down], kind, role)
    assert edge in edges(get(lineage, world[up], DOWN, depth=1))
    assert edge in edges(get(lineage, world[down], UP, depth=1))


def test_a_batch_reaches_production_through_the_steps(lineage: Any, world: dict[str, str]) -> None:
    response = get(lineage, world["batch"], DOWN, depth=4)
    distance = {n.name: n.distance for n in response.nodes}
    assert distance[world["train"]] == 1
    assert distance[world["v1"]] == 2
    assert distance[world["prod"]] == 3  # v1 -> prod (SERVED), and v1 -> deploy -> prod
    assert distance[world["deploy"]] == 3
    # And back: production comes from the pipeline's steps and the batch.
    back = {n.name for n in get(lineage, world["prod"], UP, depth=4).nodes}
    assert {world["deploy"], world["run"], world["v1"], world["train"], world["batch"]} <= back


def test_pipeline_nodes_are_described(lineage: Any, world: dict[str, str]) -> None:
    nodes = {n.name: n for n in get(lineage, world["run"], DOWN, depth=1).nodes}
    run = nodes[world["run"]]
    assert run.kind == pb.RESOURCE_KIND_PIPELINE_RUN
    assert run.display_name == "nightly run_001"
    assert run.attributes["definition_version"] == "git:ab12cd"
    assert run.attributes["state"] == "RUNNING"
    train = nodes[world["train"]]
    assert train.kind == pb.RESOURCE_KIND_PIPELINE_STEP
    assert (train.display_name, train.attributes["state"]) == ("nightly run_001 train", "SUCCEEDED")
    assert train.distance == 1 and not train.expanded


def test_a_reference_to_a_deleted_resource_is_dropped(lineage: Any, world: dict[str, str]) -> None:
    response = get(lineage, world["register"], DOWN, depth=3)
    names = {n.name for n in response.nodes}
    assert world["register"] in names and world["gone"] not in names
    assert all(world["gone"] not in (e.upstream, e.downstream) for e in response.edges)
    # The step's input is still there.
    assert world["batch"] in {n.name for n in get(lineage, world["register"], UP).nodes}
