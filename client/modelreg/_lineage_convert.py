"""Pure conversions of LineageService's batch and lineage messages to the SDK's
dataclasses (``_convert.py`` does the rest of the API's); enums map by name."""

from __future__ import annotations

from modelreg._convert import ROLE, EnumMap, dataset_version, model_version, optional_time
from modelreg._lineage_types import (
    Batch,
    BatchBehind,
    BatchMetricPoint,
    LineageDirection,
    LineageEdge,
    LineageEdgeKind,
    LineageGraph,
    LineageNode,
    ResourceKind,
    TrainedVersion,
)
from modelreg.api.v1 import lineage_service_pb2 as lineage
from modelreg.api.v1 import resources_pb2 as pb

NODE_KIND = EnumMap(
    pb.LineageNode.DESCRIPTOR.fields_by_name["kind"], ResourceKind, prefix="RESOURCE_KIND_"
)
EDGE_KIND = EnumMap(
    pb.LineageEdge.DESCRIPTOR.fields_by_name["kind"], LineageEdgeKind, prefix="LINEAGE_EDGE_KIND_"
)
DIRECTION = EnumMap(
    lineage.GetLineageRequest.DESCRIPTOR.fields_by_name["direction"],
    LineageDirection,
    prefix="LINEAGE_DIRECTION_",
)


def batch(msg: pb.Batch) -> Batch:
    return Batch(
        dataset_version=dataset_version(msg.dataset_version),
        model_version_count=msg.model_version_count,
    )


def trained_version(msg: lineage.TrainedVersion) -> TrainedVersion:
    return TrainedVersion(
        model_version=model_version(msg.model_version),
        dataset_version=msg.dataset_version,
        role=ROLE.decode(msg.role),
        via=msg.via,
        generations=msg.generations,
    )


def batch_behind(msg: lineage.BatchBehind) -> BatchBehind:
    return BatchBehind(
        dataset_version=dataset_version(msg.dataset_version),
        role=ROLE.decode(msg.role),
        model_version=msg.model_version,
        generations=msg.generations,
    )


def batch_metric_point(msg: lineage.BatchMetricPoint) -> BatchMetricPoint:
    return BatchMetricPoint(
        dataset_version=msg.dataset_version,
        batch_id=msg.batch_id,
        data_start_time=optional_time(msg, "data_start_time"),
        data_end_time=optional_time(msg, "data_end_time"),
        model_version=msg.model_version,
        version=msg.version,
        value=msg.value if msg.HasField("value") else None,
    )


def lineage_node(msg: pb.LineageNode) -> LineageNode:
    return LineageNode(
        name=msg.name,
        kind=NODE_KIND.decode(msg.kind),
        display_name=msg.display_name,
        distance=msg.distance,
        expanded=msg.expanded,
        attributes=dict(msg.attributes),
    )


def lineage_edge(msg: pb.LineageEdge) -> LineageEdge:
    return LineageEdge(
        upstream=msg.upstream,
        downstream=msg.downstream,
        kind=EDGE_KIND.decode(msg.kind),
        role=msg.role,
    )


def lineage_graph(msg: lineage.GetLineageResponse) -> LineageGraph:
    return LineageGraph(
        nodes=tuple(map(lineage_node, msg.nodes)),
        edges=tuple(map(lineage_edge, msg.edges)),
        truncated=msg.truncated,
        max_nodes=msg.max_nodes,
    )
