"""GetLineage end to end over gRPC: every edge kind both ways, "what data is behind
what is in production now" from a deployment, depth and the node cap (truncated,
unexpanded nodes), node descriptions, and bad arguments naming their field.

The world (built once through the API):

    raw --DERIVED--> b05 (batch 2024-11-05) --INPUT--> train --PRODUCED--> detector v1
    raw --DERIVED--> b06 (batch 2024-11-06)             b05 --TRAINED--> v1
    v1 --FINE_TUNED--> v2 <--TRAINED-- b06;  v2 --EVALUATED--> eval_1 <--EVALUATED_ON-- holdout
    evaluate (run) --LOGGED--> eval_1;  v2 --SERVED--> prod (100%)
    prod --RECORDED--> prod's window of yesterday <--PREDICTED-- v2
    v1 --PREDICTED--> the model's window of yesterday (records sent without a deployment)
    old: a RETIRED deployment that served v1; canary: traffic moved from v1 to v2
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from typing import Any

import grpc
import pytest

import modelreg
from modelreg.api.v1 import lineage_service_pb2 as rpc
from modelreg.api.v1 import resources_pb2 as pb
from tests.bad_input import bad_fields, raw_failure
from tests.conftest import unique
from tests.inference_support import record, write

UP = rpc.LINEAGE_DIRECTION_UPSTREAM
DOWN = rpc.LINEAGE_DIRECTION_DOWNSTREAM
BOTH = rpc.LINEAGE_DIRECTION_BOTH
E = pb.LineageEdgeKind


@dataclass(frozen=True)
class World:
    project: str
    names: dict[str, str]
    day: str

    def __getitem__(self, key: str) -> str:
        return self.names[key]


@pytest.fixture(scope="module")
def world(target: str) -> Iterator[World]:
    with modelreg.Client(target, actor="tester") as c:
        p = unique("lin")
        c.create_project(p)
        raw = c.create_dataset_version(p, "raw", uri="s3://d/raw", version="r1")
        b05 = c.create_dataset_version(
            p, "events", uri="s3://d/05", version="b05", batch_id="2024-11-05", parents=[raw]
        )
        b06 = c.create_dataset_version(
            p, "events", uri="s3://d/06", version="b06", batch_id="2024-11-06", parents=[raw]
        )
        holdout = c.create_dataset_version(p, "holdout", uri="s3://d/h", version="h1", split="test")
        with c.start_run(p, run_id="train", inputs=[b05]) as run:
            v1 = run.register_model_version("detector", artifact_uri="s3://m/1")
        v2 = c.register_model_version(
            p,
            "detector",
            artifact_uri="s3://m/2",
            training_data=[(b06, "TRAIN")],
            parent_version=v1.resource_name,
        )
        with c.start_run(p, run_id="evaluate") as ev:
            c.log_evaluation(v2, dataset=holdout, metrics={"accuracy": 0.9}, run=ev.resource_name)
        c.set_alias(p, "detector", "production", 2)
        c.create_deployment(p, "prod", model="detector", traffic={2: 100}, environment="eu")
        c.create_deployment(p, "old", model="detector", traffic={1: 100})
        c.update_deployment(p, "old", state="RETIRED")
        canary = c.create_deployment(p, "canary", model="detector", traffic={1: 100})
        c.set_traffic(p, "canary", {2: 100}, etag=canary.etag)
        yesterday = datetime.now(timezone.utc).date() - timedelta(days=1)
        when = datetime.combine(yesterday, time(12), timezone.utc)
        records = [record("detector", 2, deployment="prod", event_time=when) for _ in range(3)]
        records.append(record("detector", 1, event_time=when))
        assert write(c.production_stub, p, records).accepted == 4
        day = yesterday.isoformat()
        base = f"projects/{p}"
        names = {
            "raw": raw.resource_name,
            "b05": b05.resource_name,
            "b06": b06.resource_name,
            "holdout": holdout.resource_name,
            "train": f"{base}/runs/train",
            "evaluate": f"{base}/runs/evaluate",
            "v1": v1.resource_name,
            "v2": v2.resource_name,
            "eval": f"{v2.resource_name}/evaluations/eval_1",
            "prod": f"{base}/deployments/prod",
            "old": f"{base}/deployments/old",
            "canary": f"{base}/deployments/canary",
            "prod_window": f"{base}/deployments/prod/windows/{day}",
            "model_window": f"{base}/models/detector/windows/{day}",
        }
        yield World(p, names, day)


@pytest.fixture(scope="module")
def lineage(target: str) -> Iterator[Any]:
    with modelreg.Client(target, actor="tester") as c:
        yield c.lineage_stub


def get(stub: Any, resource: str, direction: int = UP, **fields: Any) -> rpc.GetLineageResponse:
    request = rpc.GetLineageRequest(resource=resource, direction=direction, **fields)
    response: rpc.GetLineageResponse = stub.GetLineage(request, timeout=30)
    return response


def node_names(response: rpc.GetLineageResponse) -> set[str]:
    return {n.name for n in response.nodes}


def edges(response: rpc.GetLineageResponse) -> set[tuple[str, str, int]]:
    return {(e.upstream, e.downstream, e.kind) for e in response.edges}


def nodes_by_name(response: rpc.GetLineageResponse) -> dict[str, pb.LineageNode]:
    return {n.name: n for n in response.nodes}


# Each edge kind, from its upstream end downstream and back.
EDGE_CASES = [
    ("raw", "b05", E.LINEAGE_EDGE_KIND_DERIVED),
    ("b05", "train", E.LINEAGE_EDGE_KIND_INPUT),
    ("b05", "v1", E.LINEAGE_EDGE_KIND_TRAINED),
    ("train", "v1", E.LINEAGE_EDGE_KIND_PRODUCED),
    ("v1", "v2", E.LINEAGE_EDGE_KIND_FINE_TUNED),
    ("v2", "eval", E.LINEAGE_EDGE_KIND_EVALUATED),
    ("holdout", "eval", E.LINEAGE_EDGE_KIND_EVALUATED_ON),
    ("evaluate", "eval", E.LINEAGE_EDGE_KIND_LOGGED),
    ("v2", "prod", E.LINEAGE_EDGE_KIND_SERVED),
    ("v2", "canary", E.LINEAGE_EDGE_KIND_SERVED),
    ("prod", "prod_window", E.LINEAGE_EDGE_KIND_RECORDED),
    ("v2", "prod_window", E.LINEAGE_EDGE_KIND_PREDICTED),
    ("v1", "model_window", E.LINEAGE_EDGE_KIND_PREDICTED),
]


@pytest.mark.parametrize(("up", "down", "kind"), EDGE_CASES)
def test_each_edge_kind_both_ways(
    lineage: Any, world: World, up: str, down: str, kind: int
) -> None:
    edge = (world[up], world[down], kind)
    downstream = get(lineage, world[up], DOWN, depth=1)
    assert edge in edges(downstream)
    assert nodes_by_name(downstream)[world[down]].distance == 1
    upstream = get(lineage, world[down], UP, depth=1)
    assert edge in edges(upstream)
    assert nodes_by_name(upstream)[world[up]].distance == 1
    # Never the wrong way round.
    assert world[down] not in node_names(get(lineage, world[up], UP, depth=1))


def test_roles_on_data_edges(lineage: Any, world: World) -> None:
    response = get(lineage, world["v2"], UP, depth=1)
    roles = {(e.upstream, e.kind): e.role for e in response.edges}
    assert roles[(world["b06"], E.LINEAGE_EDGE_KIND_TRAINED)] == "TRAIN"
    assert roles[(world["v1"], E.LINEAGE_EDGE_KIND_FINE_TUNED)] == ""


def test_what_data_is_behind_production_now(lineage: Any, world: World) -> None:
    response = get(lineage, world["prod"], UP, depth=10)
    assert response.nodes[0].name == world["prod"] and response.nodes[0].distance == 0
    found = node_names(response)
    for key in ("raw", "b05", "b06", "train", "v1", "v2"):
        assert world[key] in found, key
    # Only what is upstream: no evaluations, windows or other deployments.
    for key in ("eval", "holdout", "prod_window", "old", "canary"):
        assert world[key] not in found, key
    assert not response.truncated and response.max_nodes == 1000
    assert all(n.expanded for n in response.nodes)
    batches = {n.name for n in response.nodes if n.kind == pb.RESOURCE_KIND_BATCH}
    assert batches == {world["b05"], world["b06"]}
    # Every edge joins two returned nodes.
    for e in response.edges:
        assert {e.upstream, e.downstream} <= found


def test_downstream_from_a_batch(lineage: Any, world: World) -> None:
    found = node_names(get(lineage, world["b05"], DOWN, depth=10))
    for key in ("train", "v1", "v2", "eval", "prod", "canary", "prod_window", "model_window"):
        assert world[key] in found, key
    for key in ("raw", "b06", "holdout", "old"):
        assert world[key] not in found, key


def test_served_means_serving_now(lineage: Any, world: World) -> None:
    """A retired deployment, and one whose traffic moved on, do not serve v1."""
    found = node_names(get(lineage, world["v1"], DOWN, depth=1))
    assert world["old"] not in found and world["canary"] not in found
    assert node_names(get(lineage, world["old"], UP, depth=3)) == {world["old"]}


def test_both_ways_keeps_each_path_direction(lineage: Any, world: World) -> None:
    response = get(lineage, world["v2"], BOTH, depth=1)
    distances = {n.name: n.distance for n in response.nodes}
    for key in ("v1", "b06", "eval", "prod", "canary", "prod_window"):
        assert distances[world[key]] == 1, key
    # v1 is upstream of v2, so v1's model window (downstream of v1) is not reached
    # however deep the walk goes; nor b05's run through the other way round.
    deep = node_names(get(lineage, world["v2"], BOTH, depth=10))
    assert world["model_window"] not in deep
    assert world["raw"] in deep and world["old"] not in deep


def test_depth_limits_the_walk(lineage: Any, world: World) -> None:
    one = get(lineage, world["prod"], UP, depth=1)
    assert [(n.name, n.distance, n.expanded) for n in one.nodes] == [
        (world["prod"], 0, True),
        (world["v2"], 1, False),
    ]
    assert not one.truncated
    two = get(lineage, world["prod"], UP, depth=2)
    assert node_names(two) == {world[k] for k in ("prod", "v2", "v1", "b06")}
    assert {n.name for n in two.nodes if not n.expanded} == {world["v1"], world["b06"]}
    default = get(lineage, world["prod"], UP)  # depth 0 means 3
    assert max(n.distance for n in default.nodes) == 3
    assert world["raw"] in node_names(default) and world["b05"] in node_names(default)


def test_nodes_ordered_by_distance_then_name(lineage: Any, world: World) -> None:
    response = get(lineage, world["b05"], DOWN, depth=10)
    keys = [(n.distance, n.name) for n in response.nodes]
    assert keys == sorted(keys)
    assert response.nodes[0].name == world["b05"]


def test_node_cap_truncates_and_reports(lineage: Any, world: World) -> None:
    full = get(lineage, world["prod"], UP, depth=10)
    assert len(full.nodes) > 4
    capped = get(lineage, world["prod"], UP, depth=10, max_nodes=3)
    assert capped.truncated and capped.max_nodes == 3
    assert len(capped.nodes) == 3
    found = node_names(capped)
    assert not all(n.expanded for n in capped.nodes)
    for e in capped.edges:
        assert {e.upstream, e.downstream} <= found
    # The cap keeps the nearest nodes.
    assert [n.distance for n in capped.nodes] == sorted(n.distance for n in full.nodes)[:3]
    exact = get(lineage, world["prod"], UP, depth=10, max_nodes=len(full.nodes))
    assert not exact.truncated and node_names(exact) == node_names(full)
    one = get(lineage, world["prod"], UP, max_nodes=1)
    assert one.truncated and [(n.name, n.expanded) for n in one.nodes] == [(world["prod"], False)]
    assert get(lineage, world["prod"], UP, max_nodes=50_000).max_nodes == 10_000


def test_descriptions(lineage: Any, world: World) -> None:
    nodes = nodes_by_name(get(lineage, world["b05"], BOTH, depth=10))
    v2 = nodes[world["v2"]]
    assert v2.kind == pb.RESOURCE_KIND_MODEL_VERSION and v2.display_name == "detector_v2"
    assert v2.attributes["state"] == "READY" and v2.attributes["aliases"] == "production"
    b05 = nodes[world["b05"]]
    assert b05.display_name == "batch 2024-11-05" and b05.attributes["batch_id"] == "2024-11-05"
    raw = nodes[world["raw"]]
    assert raw.kind == pb.RESOURCE_KIND_DATASET_VERSION and raw.display_name == "raw/r1"
    assert nodes[world["train"]].kind == pb.RESOURCE_KIND_RUN
    assert nodes[world["train"]].attributes["state"] == "SUCCEEDED"
    prod = nodes[world["prod"]]
    assert prod.kind == pb.RESOURCE_KIND_DEPLOYMENT
    assert prod.attributes["environment"] == "eu" and prod.attributes["traffic"] == "v2 100%"
    window = nodes[world["prod_window"]]
    assert window.kind == pb.RESOURCE_KIND_INFERENCE_WINDOW
    assert window.attributes["records"] == "3" and window.attributes["day"] == world.day
    assert nodes[world["model_window"]].attributes["records"] == "1"
    ev = get(lineage, world["eval"], UP, depth=1).nodes[0]
    assert ev.kind == pb.RESOURCE_KIND_EVALUATION
    assert ev.attributes["metrics.accuracy"] == "0.9"


def test_starts_from_an_alias_or_a_window(lineage: Any, world: World) -> None:
    by_alias = get(lineage, f"projects/{world.project}/models/detector/versions/production", UP)
    assert by_alias.nodes[0].name == world["v2"]
    from_window = get(lineage, world["model_window"], UP, depth=1)
    assert node_names(from_window) == {world["model_window"], world["v1"]}


# Errors


def _fails(lineage: Any, request: rpc.GetLineageRequest) -> tuple[grpc.StatusCode, list[str]]:
    code, status = raw_failure(lineage.GetLineage, request)
    return code, bad_fields(status)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"resource": ""}, "resource"),
        ({"resource": "projects/x/nothing/y"}, "resource"),
        ({"direction": rpc.LINEAGE_DIRECTION_UNSPECIFIED}, "direction"),
        ({"direction": 42}, "direction"),
        ({"depth": 11}, "depth"),
        ({"depth": -1}, "depth"),
        ({"max_nodes": -1}, "max_nodes"),
    ],
)
def test_bad_arguments_name_the_field(
    lineage: Any, world: World, fields: dict[str, Any], field: str
) -> None:
    request = rpc.GetLineageRequest(resource=world["v2"], direction=UP)
    for key, value in fields.items():
        setattr(request, key, value)
    assert _fails(lineage, request) == (grpc.StatusCode.INVALID_ARGUMENT, [field])


@pytest.mark.parametrize(
    "suffix",
    [
        "models/detector/versions/9",
        "runs/nope",
        "deployments/nope",
        "models/detector/windows/2001-01-01",
        "models/detector/windows/9999-12-31",  # no day after it in the calendar
        "deployments/prod/windows/9999-12-31",
    ],
)
def test_unknown_resource_is_not_found(lineage: Any, world: World, suffix: str) -> None:
    request = rpc.GetLineageRequest(resource=f"projects/{world.project}/{suffix}", direction=UP)
    code, _ = _fails(lineage, request)
    assert code == grpc.StatusCode.NOT_FOUND
