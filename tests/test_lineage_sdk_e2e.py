"""``client.lineage`` and ``modelreg lineage`` against the real server, on the batch
scenario (tests/batch_support.py) with a deployment serving detector v3: from the
deployment back to every batch and run, from a batch forward to every version and the
deployment, both ways, the node limit, and errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

import modelreg
from modelreg import LineageEdgeKind, LineageGraph, ResourceKind
from tests.batch_support import Scenario, build


@pytest.fixture
def s(sync_client: modelreg.Client, project: str) -> Scenario:
    scenario = build(sync_client, project)
    sync_client.create_deployment(project, "prod", model="detector", traffic={3: 100})
    return scenario


def _names(graph: LineageGraph, kind: ResourceKind) -> set[str]:
    return {n.name for n in graph.nodes_of(kind)}


def _edge(graph: LineageGraph, upstream: str, downstream: str) -> modelreg.LineageEdge:
    (edge,) = [e for e in graph.edges_to(downstream) if e.upstream == upstream]
    return edge


def test_upstream_of_a_version(client: modelreg.Client, s: Scenario) -> None:
    g = client.lineage(s.v3, direction="upstream")
    assert isinstance(g, LineageGraph)
    assert (g.root.name, g.root.kind, g.root.distance) == (
        s.v3.resource_name, ResourceKind.MODEL_VERSION, 0,
    )  # fmt: skip
    assert g.root.display_name == "detector_v3" and g.root.expanded
    assert not g.truncated and g.max_nodes == 1000
    # Depth 3 reaches b1 through two parent links: v3 <- v2 <- v1 <- b1.
    assert _names(g, ResourceKind.BATCH) == {
        s.b1.resource_name, s.b2.resource_name, s.b3.resource_name, s.extra.resource_name,
    }  # fmt: skip
    assert _names(g, ResourceKind.DATASET_VERSION) == {s.holdout.resource_name}
    assert g.node(s.b1.resource_name).distance == 3
    assert g.node(s.b3.resource_name).attributes.get("batch_id") == "2024-11-06"
    trained = _edge(g, s.b3.resource_name, s.v3.resource_name)
    assert (trained.kind, trained.role) == (LineageEdgeKind.TRAINED, "TRAIN")
    assert _edge(g, s.v2.resource_name, s.v3.resource_name).kind is LineageEdgeKind.FINE_TUNED
    r3 = s.runs[2].resource_name
    assert _edge(g, r3, s.v3.resource_name).kind is LineageEdgeKind.PRODUCED
    assert {n.name for n in g.upstream_of(s.v3.resource_name)} == {
        s.b3.resource_name, s.extra.resource_name, s.v2.resource_name, r3,
    }  # fmt: skip
    # Only what is within the depth.
    near = client.lineage(s.v3.resource_name, depth=1)
    assert {n.distance for n in near.nodes} == {0, 1}
    assert s.b1.resource_name not in near


def test_from_the_deployment_back_to_every_batch_and_run(
    client: modelreg.Client, s: Scenario
) -> None:
    deployment = client.get_deployment(s.project, "prod")
    g = client.lineage(deployment, direction="upstream", depth=5)
    assert g.root.kind is ResourceKind.DEPLOYMENT
    served = _edge(g, s.v3.resource_name, deployment.resource_name)
    assert served.kind is LineageEdgeKind.SERVED
    assert {s.b1.resource_name, s.b2.resource_name, s.b3.resource_name} <= _names(
        g, ResourceKind.BATCH
    )
    assert _names(g, ResourceKind.RUN) == {r.resource_name for r in s.runs}
    # What the deployment does not depend on is not upstream of it.
    assert s.v4.resource_name not in g and s.other.resource_name not in g


def test_from_a_batch_forward_to_every_version_and_the_deployment(
    client: modelreg.Client, s: Scenario
) -> None:
    (b1,) = [b for b in client.list_batches(s.project) if b.batch_id == "2024-11-04"]
    g = client.lineage(b1, direction="downstream", depth=5)
    assert g.root.name == s.b1.resource_name and g.root.kind is ResourceKind.BATCH
    assert {v.resource_name for v in (s.v1, s.v2, s.v3, s.v4, s.other)} <= _names(
        g, ResourceKind.MODEL_VERSION
    )
    assert f"projects/{s.project}/deployments/prod" in _names(g, ResourceKind.DEPLOYMENT)
    assert s.runs[0].resource_name in _names(g, ResourceKind.RUN)
    assert _edge(g, s.b1.resource_name, s.runs[0].resource_name).kind is LineageEdgeKind.INPUT
    assert g.node(s.v1.resource_name).distance == 1
    # Evaluations hang off the versions.
    evaluations = g.nodes_of(ResourceKind.EVALUATION)
    assert evaluations and all(e.distance >= 2 for e in evaluations)


def test_both_ways_any_object_and_the_node_limit(client: modelreg.Client, s: Scenario) -> None:
    g = client.lineage(s.v2, direction="both", depth=1)
    around = {n.name for n in g.nodes}
    assert {s.b2.resource_name, s.v1.resource_name, s.v3.resource_name} <= around
    assert {s.v4.resource_name, s.b1.resource_name}.isdisjoint(around)
    # Any object with a resource name: a run, a dataset version, a node of another graph.
    run = client.get_run(s.project, "r1")
    assert client.lineage(run, direction="downstream", depth=1).root.name == run.resource_name
    assert client.lineage(s.holdout, direction="down").root.kind is ResourceKind.DATASET_VERSION
    again = client.lineage(g.node(s.v1.resource_name), depth=1)
    assert again.root.name == s.v1.resource_name
    # An alias names the version it points at.
    client.set_alias(s.project, "detector", "production", 3)
    aliased = client.lineage(f"projects/{s.project}/models/detector/versions/production")
    assert aliased.root.name == s.v3.resource_name
    capped = client.lineage(s.v3, depth=5, max_nodes=3)
    assert capped.truncated and capped.max_nodes == 3 and len(capped.nodes) <= 3
    assert any(not n.expanded for n in capped.nodes)


def test_errors(client: modelreg.Client, s: Scenario) -> None:
    with pytest.raises(modelreg.NotFoundError):
        client.lineage(f"projects/{s.project}/models/detector/versions/9")
    with pytest.raises(modelreg.InvalidArgumentError) as info:
        client.lineage(s.v1, depth=11)
    assert info.value.field == "depth"
    with pytest.raises(modelreg.InvalidArgumentError) as info:
        client.lineage(f"projects/{s.project}/widgets/w")
    assert info.value.field == "resource"
    with pytest.raises(ValueError):
        client.lineage(s.v1, direction="sideways")
    with pytest.raises(ValueError, match="resource name"):
        client.lineage("detector_v1")


# The command


def test_cli_tree(cli: Any, s: Scenario) -> None:
    code, out, err = cli("lineage", s.v3.resource_name)
    assert (code, err) == (0, ""), err
    lines = out.splitlines()
    assert lines[0] == f"MODEL_VERSION detector_v3 ({s.v3.resource_name})"
    b3 = s.b3.resource_name
    assert [line for line in lines if line.endswith(f"({b3})")] == [
        f"  TRAINED(TRAIN) BATCH batch 2024-11-06 ({b3})"
    ]
    assert f"    FINE_TUNED MODEL_VERSION detector_v1 ({s.v1.resource_name})" in lines
    # Each line is indented by its node's distance.
    code, out, _ = cli("--json", "lineage", s.v3.resource_name)
    graph = json.loads(out)
    depth = {n["name"]: n["distance"] for n in graph["nodes"]}
    for line in lines:
        name = line.rsplit("(", 1)[1].rstrip(")")
        assert len(line) - len(line.lstrip()) == 2 * depth[name]
    assert len(lines) == len(graph["nodes"]) and graph["truncated"] is False

    code, out, err = cli("lineage", s.b1.resource_name, "--downstream", "--depth", "1")
    assert (code, err) == (0, ""), err
    assert f"  TRAINED(TRAIN) MODEL_VERSION detector_v1 ({s.v1.resource_name})" in out.splitlines()

    code, out, err = cli("lineage", s.v3.resource_name, "--both", "--max-nodes", "2")
    assert (code, err) == (0, "")
    assert out.splitlines()[-1].startswith("truncated: the node limit (2) was reached")

    code, out, err = cli("lineage", s.v3.resource_name, "--depth", "0")
    assert code == 0  # 0 means the default, 3
    code, out, err = cli("lineage", s.v3.resource_name, "--depth", "11")
    assert code == 1 and err.startswith("error: INVALID_ARGUMENT: depth")
    with pytest.raises(SystemExit):
        cli("lineage", s.v3.resource_name, "--upstream", "--downstream")
