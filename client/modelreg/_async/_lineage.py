"""Batch learning and lineage: the data batches of a project, which versions learned from
a batch, which batches are behind a version, a metric from batch to batch, and the lineage
graph around any resource."""

from __future__ import annotations

import warnings

from modelreg import _lineage_convert as lc
from modelreg import _lineage_requests as lr
from modelreg import _requests as req
from modelreg._async._rpc import LINEAGE, AsyncPager, AsyncRPC
from modelreg._lineage_types import (
    Batch,
    BatchBehind,
    BatchMetricPoint,
    LineageDirection,
    LineageGraph,
    TrainedVersion,
)
from modelreg._settings import DEFAULT_PAGE_SIZE
from modelreg._tracking_types import Named
from modelreg.api.v1 import lineage_service_pb2 as lineage


class AsyncLineage:
    """The batch and lineage methods of AsyncClient."""

    _rpc: AsyncRPC

    def list_batches(
        self, project: str, dataset: str | None = None, *, page_size: int = 0
    ) -> AsyncPager[Batch]:
        """Iterate over the data batches of a project (dataset versions with a batch id),
        by the start of their data's time range (those without one last), then dataset
        and version; only ``dataset``'s if given.

        Example:
            >>> for b in client.list_batches("screen_clean", "clicks"):
            ...     print(b.batch_id, b.data_start_time, b.model_version_count)
        """
        request = lineage.ListBatchesRequest(
            parent=req.project_name(project),
            dataset=dataset or "",
            page_size=req.page_size(page_size),
        )
        return self._rpc.pages("ListBatches", request, "batches", lc.batch, service=LINEAGE)

    async def versions_trained_on(
        self,
        project: str,
        batch_id: str | None = None,
        *,
        dataset_version: Named | str | None = None,
        direct_only: bool = False,
    ) -> list[TrainedVersion]:
        """The model versions of a project that learned from a batch, by model and number.

        A version learned from a batch when the batch is in its training data (any role),
        or, unless ``direct_only``, in that of a version it was fine-tuned from
        (``parent_version``, incremental training), transitively: ``via`` names that
        ancestor and ``generations`` counts the links to it.

        Args:
            batch_id: the batch by its id: every dataset version of the project with it.
            dataset_version: the batch as one dataset version instead (a DatasetVersion,
                a Batch, or a resource name, in any project). Give exactly one of the two.
            direct_only: only the versions with the batch in their own training data.

        Example:
            >>> for t in client.versions_trained_on("screen_clean", "2024-11-06"):
            ...     print(t.model_version.display_name, t.generations, t.via)

        Raises:
            NotFoundError: the project or the dataset version does not exist.
        """
        request = lr.versions_trained_on(
            project, batch_id, dataset_version, direct_only, DEFAULT_PAGE_SIZE
        )
        return await self._rpc.collect(
            "ListVersionsTrainedOn", request, "versions", lc.trained_version, service=LINEAGE
        )

    async def batches_behind(
        self, version: lr.VersionLike, *, direct_only: bool = False
    ) -> list[BatchBehind]:
        """The dataset versions (batches and others) behind a model version: its training
        data and, unless ``direct_only``, that of the versions it was fine-tuned from,
        transitively; each once, nearest generation first, then in the order each version
        lists its training data.

        Args:
            version: a ModelVersion, its resource name (a number or an alias, e.g.
                ``.../versions/production``), or ``(project, model, number or alias)``.
            direct_only: only the version's own training data.

        Example:
            >>> behind = client.batches_behind(("screen_clean", "detector", "production"))
            >>> [b.batch_id for b in behind if b.batch_id]

        A chain of more than 10,000 is cut there, with a ``UserWarning``.
        """
        request = lineage.ListBatchesBehindVersionRequest(
            name=lr.version_of(version), direct_only=direct_only
        )
        response = await self._rpc.call("ListBatchesBehindVersion", request, service=LINEAGE)
        if response.truncated:
            warnings.warn(
                f"batches behind {request.name}: cut at {len(response.batches)}",
                UserWarning,
                stacklevel=2,
            )
        return [lc.batch_behind(b) for b in response.batches]

    async def batch_metric_series(
        self,
        project: str,
        model: str,
        metric: str,
        *,
        dataset: Named | str | None = None,
        slice: str = "",
    ) -> list[BatchMetricPoint]:
        """How a metric moved from batch to batch: one point per version of ``model`` that
        trained on a batch, placed at its newest TRAIN batch, in the order of the batches'
        data start times (then batch id, then version number).

        Args:
            metric: the metric key, e.g. ``accuracy``.
            dataset: take the value from each version's latest evaluation on this dataset
                version (a DatasetVersion or its resource name); when None, from the
                latest value of ``metric`` in the version's source run.
            slice: with ``dataset``, the evaluation slice ("" for the whole set).

        A version without the metric has ``value`` None.

        Example:
            >>> for p in client.batch_metric_series("screen_clean", "detector", "auc",
            ...                                     dataset=holdout):
            ...     print(p.batch_id, p.version, p.value)
        """
        request = lr.batch_metric_series(project, model, metric, dataset, slice)
        response = await self._rpc.call("GetBatchMetricSeries", request, service=LINEAGE)
        return [lc.batch_metric_point(p) for p in response.points]

    async def lineage(
        self,
        resource: Named | str,
        *,
        direction: LineageDirection | str = LineageDirection.UPSTREAM,
        depth: int = 3,
        max_nodes: int = 1000,
    ) -> LineageGraph:
        """The lineage graph around a resource: what it came from (``"upstream"``), what
        came of it (``"downstream"``), or both (``"both"``), to ``depth`` edges (1-10)
        and at most ``max_nodes`` nodes (up to 10,000; ``truncated`` says when the limit
        cut the walk short, and nodes not followed have ``expanded`` False).

        Args:
            resource: a resource name, or any object with one: a ModelVersion, Run,
                DatasetVersion, Batch, Evaluation, Deployment, PipelineRun, PipelineStep
                or LineageNode (a deployment's inference window by name:
                ``projects/{p}/deployments/{d}/windows/{YYYY-MM-DD}``).

        Example:
            >>> g = client.lineage(v, direction="upstream")
            >>> [n.name for n in g.nodes_of("BATCH")]
            >>> g = client.lineage("projects/screen_clean/deployments/prod", depth=6)

        Raises:
            NotFoundError: the resource does not exist.
        """
        request = lr.get_lineage(resource, direction, depth, max_nodes)
        response = await self._rpc.call("GetLineage", request, service=LINEAGE)
        return lc.lineage_graph(response)
