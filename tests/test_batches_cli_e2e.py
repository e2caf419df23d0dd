"""The ``modelreg batches`` commands against the real server (scenario:
tests/batch_support.py), and the ``modelreg lineage`` tree, printed from graphs built here
(the command itself runs against the server in test_lineage_sdk_e2e.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

import modelreg
from modelreg import (
    LineageDirection,
    LineageEdge,
    LineageEdgeKind,
    LineageGraph,
    LineageNode,
    ResourceKind,
)
from modelreg._cli_lineage import short, tree
from tests.batch_support import BATCH_IDS, Scenario, build


@pytest.fixture
def s(sync_client: modelreg.Client, project: str) -> Scenario:
    return build(sync_client, project)


def _rows(out: str) -> tuple[list[str], list[list[str]]]:
    header, *rows = out.splitlines()
    return header.split(), [r.split() for r in rows]


def test_batches_list(cli: Any, s: Scenario) -> None:
    code, out, err = cli("batches", "list", s.project)
    assert (code, err) == (0, ""), err
    header, rows = _rows(out)
    assert header == ["BATCH", "DATASET_VERSION", "START", "END", "VERSIONS"]
    assert rows == [
        [BATCH_IDS[0], "clicks/b1", "2024-11-04T00:00:00Z", "2024-11-05T00:00:00Z", "1"],
        [BATCH_IDS[1], "clicks/b2", "2024-11-05T00:00:00Z", "2024-11-06T00:00:00Z", "1"],
        [BATCH_IDS[2], "clicks/b3", "2024-11-06T00:00:00Z", "2024-11-07T00:00:00Z", "2"],
        [BATCH_IDS[2], "extra/x", "-", "-", "1"],
    ]
    code, out, err = cli("batches", "list", s.project, "--dataset", "extra", "--json")
    assert (code, err) == (0, "")
    (only,) = json.loads(out)
    assert only["dataset_version"]["version"] == "x" and only["model_version_count"] == 1


def test_batches_versions(cli: Any, s: Scenario) -> None:
    code, out, err = cli("batches", "versions", s.project, BATCH_IDS[0])
    assert (code, err) == (0, ""), err
    header, rows = _rows(out)
    assert header == ["VERSION", "STATE", "BATCH", "ROLE", "GEN", "VIA"]
    assert rows == [
        ["detector_v1", "READY", "clicks/b1", "TRAIN", "0", "-"],
        ["detector_v2", "READY", "clicks/b1", "TRAIN", "1", "detector_v1"],
        ["detector_v3", "READY", "clicks/b1", "TRAIN", "2", "detector_v1"],
        ["detector_v4", "READY", "clicks/b1", "TRAIN", "1", "detector_v1"],
        ["other_v1", "READY", "clicks/b1", "TRAIN", "2", "detector_v1"],
    ]
    code, out, _ = cli("batches", "versions", s.project, BATCH_IDS[0], "--direct")
    assert [r[0] for r in _rows(out)[1]] == ["detector_v1"]
    # A dataset version's name instead of a batch id.
    code, out, _ = cli("batches", "versions", s.project, s.holdout.resource_name, "--direct")
    assert [r[:4] for r in _rows(out)[1]] == [
        ["detector_v1", "READY", "holdout/v1", "VALIDATION"],
        ["detector_v2", "READY", "holdout/v1", "VALIDATION"],
    ]
    code, out, err = cli("--json", "batches", "versions", s.project, BATCH_IDS[1])
    assert (code, err) == (0, "")
    found = json.loads(out)
    assert [
        (t["model_version"]["model"], t["model_version"]["version"], t["generations"], t["via"])
        for t in found
    ] == [
        ("detector", 2, 0, ""), ("detector", 3, 1, s.v2.resource_name),
        ("other", 1, 1, s.v2.resource_name),
    ]  # fmt: skip


def test_batches_behind(cli: Any, s: Scenario) -> None:
    name = f"projects/{s.project}/models/detector/versions/3"
    code, out, err = cli("batches", "behind", name)
    assert (code, err) == (0, ""), err
    header, rows = _rows(out)
    assert header == ["DATASET_VERSION", "BATCH", "ROLE", "TRAINED_BY", "GEN"]
    assert rows == [
        ["clicks/b3", BATCH_IDS[2], "TRAIN", "detector_v3", "0"],
        ["extra/x", BATCH_IDS[2], "TRAIN", "detector_v3", "0"],
        ["clicks/b2", BATCH_IDS[1], "TRAIN", "detector_v2", "1"],
        ["holdout/v1", "-", "VALIDATION", "detector_v2", "1"],
        ["clicks/b1", BATCH_IDS[0], "TRAIN", "detector_v1", "2"],
    ]
    code, out, _ = cli("batches", "behind", name, "--direct")
    assert len(_rows(out)[1]) == 2
    code, out, err = cli("batches", "behind", f"projects/{s.project}/models/detector/versions/9")
    assert code == 1 and err.startswith("error: NOT_FOUND: ") and out == ""


def test_batches_series(cli: Any, s: Scenario) -> None:
    code, out, err = cli(
        "batches", "series", s.project, "detector", "auc",
        "--dataset-version", s.holdout.resource_name,
    )  # fmt: skip
    assert (code, err) == (0, ""), err
    header, rows = _rows(out)
    assert header == ["BATCH", "START", "DATASET_VERSION", "VERSION", "VALUE"]
    assert [(r[0], r[3], r[4]) for r in rows] == [
        (BATCH_IDS[0], "1", "0.7"), (BATCH_IDS[1], "2", "0.8"), (BATCH_IDS[2], "3", "0.85"),
        (BATCH_IDS[2], "4", "-"),
    ]  # fmt: skip
    code, out, _ = cli("batches", "series", s.project, "detector", "auc")
    assert [r[4] for r in _rows(out)[1]] == ["0.7", "0.75", "0.9", "-"]
    code, out, err = cli("batches", "series", s.project, "detector", "")
    assert code == 1 and err.startswith("error: INVALID_ARGUMENT: metric: ")


# The tree, from graphs made here


def _node(name: str, kind: ResourceKind, distance: int, expanded: bool = True) -> LineageNode:
    return LineageNode(name, kind, short(name), distance, expanded, {})


P = "projects/p"
DV = f"{P}/datasets/clicks/versions/b1"
HOLD = f"{P}/datasets/holdout/versions/v1"
RUN = f"{P}/runs/r1"
V1, V2 = f"{P}/models/m/versions/1", f"{P}/models/m/versions/2"
DEP = f"{P}/deployments/prod"


def test_tree_upstream_indents_by_distance_and_shows_each_node_once() -> None:
    graph = LineageGraph(
        nodes=(
            _node(DEP, ResourceKind.DEPLOYMENT, 0),
            _node(V2, ResourceKind.MODEL_VERSION, 1),
            _node(V1, ResourceKind.MODEL_VERSION, 2),
            _node(RUN, ResourceKind.RUN, 2),
            _node(DV, ResourceKind.BATCH, 3, expanded=False),
        ),
        edges=(
            LineageEdge(V2, DEP, LineageEdgeKind.SERVED, ""),
            LineageEdge(V1, V2, LineageEdgeKind.FINE_TUNED, ""),
            LineageEdge(RUN, V2, LineageEdgeKind.PRODUCED, ""),
            LineageEdge(DV, V1, LineageEdgeKind.TRAINED, "TRAIN"),
            LineageEdge(DV, RUN, LineageEdgeKind.INPUT, ""),
        ),
        truncated=False,
        max_nodes=1000,
    )
    assert tree(graph, LineageDirection.UPSTREAM).splitlines() == [
        f"DEPLOYMENT {DEP} ({DEP})",
        f"  SERVED MODEL_VERSION m_v2 ({V2})",
        f"    FINE_TUNED MODEL_VERSION m_v1 ({V1})",
        f"      TRAINED(TRAIN) BATCH clicks/b1 ({DV})",
        f"    PRODUCED RUN {RUN} ({RUN})",
    ]
    assert graph.root.name == DEP and DV in graph and "x" not in graph
    assert graph.node(V1).distance == 2
    assert [n.name for n in graph.nodes_of("model_version")] == [V2, V1]
    assert graph.find(ResourceKind.BATCH) == (graph.node(DV),)
    assert [n.name for n in graph.upstream_of(V2)] == [V1, RUN]
    assert [n.name for n in graph.downstream_of(DV)] == [V1, RUN]
    kinds = [e.kind for e in graph.edges_from(DV)]
    assert kinds == [LineageEdgeKind.TRAINED, LineageEdgeKind.INPUT]
    assert graph.edges_to(DEP) == (graph.edges[0],)
    with pytest.raises(KeyError):
        graph.node("nosuch")


def test_tree_downstream_and_both_and_truncated() -> None:
    nodes = (
        _node(DV, ResourceKind.BATCH, 0),
        _node(V1, ResourceKind.MODEL_VERSION, 1),
        _node(V2, ResourceKind.MODEL_VERSION, 2, expanded=False),
    )
    edges = (
        LineageEdge(DV, V1, LineageEdgeKind.TRAINED, ""),
        LineageEdge(V1, V2, LineageEdgeKind.FINE_TUNED, ""),
    )
    graph = LineageGraph(nodes, edges, truncated=True, max_nodes=3)
    assert tree(graph, LineageDirection.DOWNSTREAM).splitlines() == [
        f"BATCH clicks/b1 ({DV})",
        f"  TRAINED MODEL_VERSION m_v1 ({V1})",
        f"    FINE_TUNED MODEL_VERSION m_v2 ({V2})",
        "truncated: the node limit (3) was reached; 1 nodes were not followed "
        "(ask again from one of them, or raise --max-nodes)",
    ]
    # Both ways from a version: its data upstream, its child downstream.
    both = LineageGraph(
        (_node(V1, ResourceKind.MODEL_VERSION, 0), _node(DV, ResourceKind.BATCH, 1),
         _node(V2, ResourceKind.MODEL_VERSION, 1), _node(HOLD, ResourceKind.DATASET_VERSION, 2)),
        (*edges, LineageEdge(HOLD, DV, LineageEdgeKind.DERIVED, "")),
        truncated=False,
        max_nodes=1000,
    )  # fmt: skip
    assert tree(both, LineageDirection.BOTH).splitlines() == [
        f"MODEL_VERSION m_v1 ({V1})",
        f"  TRAINED BATCH clicks/b1 ({DV})",
        f"    DERIVED DATASET_VERSION holdout/v1 ({HOLD})",
        f"  FINE_TUNED MODEL_VERSION m_v2 ({V2})",
    ]
    assert tree(LineageGraph((), (), False, 1000), LineageDirection.UPSTREAM) == ""


def test_lineage_direction_words() -> None:
    assert LineageDirection("up") is LineageDirection("upstream") is LineageDirection.UPSTREAM
    assert LineageDirection("Down") is LineageDirection.DOWNSTREAM
    assert LineageDirection("both") is LineageDirection.BOTH
    with pytest.raises(ValueError):
        LineageDirection("sideways")
