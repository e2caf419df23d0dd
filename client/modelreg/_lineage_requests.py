"""Request builders of the batch and lineage methods, shared by Client and AsyncClient
(all reads: no request ids)."""

from __future__ import annotations

from typing import TypeAlias

from modelreg._lineage_convert import DIRECTION
from modelreg._lineage_types import LineageDirection
from modelreg._requests import model_name, name_of, project_name, version_name
from modelreg._tracking_types import Named
from modelreg._types import ModelVersion
from modelreg.api.v1 import lineage_service_pb2 as lineage

# A model version: the object, its resource name (a number or an alias as its last
# segment), or ``(project, model, number or alias)``.
VersionLike: TypeAlias = ModelVersion | Named | str | tuple[str, str, int | str]


def version_of(version: VersionLike) -> str:
    if isinstance(version, tuple):
        return version_name(*version)
    return name_of(version, "version")


def resource_of(resource: Named | str) -> str:
    """The resource name of a string (``projects/...``) or of any SDK object that has one
    (``resource_name``: versions, runs, dataset versions, evaluations, deployments,
    pipeline runs and steps, lineage nodes)."""
    return name_of(resource, "resource")


def versions_trained_on(
    project: str,
    batch_id: str | None,
    dataset_version: Named | str | None,
    direct_only: bool,
    page_size: int,
) -> lineage.ListVersionsTrainedOnRequest:
    if (batch_id is None) == (dataset_version is None):
        raise ValueError("give a batch_id or a dataset_version (one of the two)")
    return lineage.ListVersionsTrainedOnRequest(
        parent=project_name(project),
        batch_id=batch_id or "",
        dataset_version=""
        if dataset_version is None
        else name_of(dataset_version, "dataset_version"),
        direct_only=direct_only,
        page_size=page_size,
    )


def batch_metric_series(
    project: str, model: str, metric: str, dataset: Named | str | None, slice: str
) -> lineage.GetBatchMetricSeriesRequest:
    if slice and dataset is None:
        raise ValueError("slice is a slice of the evaluations on a dataset: give dataset too")
    return lineage.GetBatchMetricSeriesRequest(
        model=model_name(project, model),
        metric=metric,
        dataset_version="" if dataset is None else name_of(dataset, "dataset"),
        slice=slice,
    )


def get_lineage(
    resource: Named | str, direction: LineageDirection | str, depth: int, max_nodes: int
) -> lineage.GetLineageRequest:
    way = LineageDirection(direction)
    return lineage.GetLineageRequest(
        resource=resource_of(resource),
        direction=lineage.LineageDirection.ValueType(DIRECTION.encode(way)),
        depth=depth,
        max_nodes=max_nodes,
    )
