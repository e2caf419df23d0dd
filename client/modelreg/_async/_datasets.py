"""Datasets: ``projects/{p}/datasets/{d}/versions/{v}``; a data batch is a dataset version."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from modelreg import _convert
from modelreg import _requests as req
from modelreg import _tracking_requests as tr
from modelreg._async._rpc import TRACKING, AsyncPager, AsyncRPC
from modelreg._tracking_types import Dataset, DatasetVersion, Named
from modelreg.api.v1 import tracking_service_pb2 as tracking


class AsyncDatasets:
    """The dataset methods of AsyncClient."""

    _rpc: AsyncRPC

    async def create_dataset_version(
        self,
        project: str,
        dataset: str,
        *,
        uri: str,
        version: str = "",
        digest: str = "",
        row_count: int | None = None,
        schema: Mapping[str, Any] | None = None,
        description: str = "",
        split: str = "",
        batch_id: str = "",
        data_start_time: datetime | None = None,
        data_end_time: datetime | None = None,
        parents: Iterable[Named | str] = (),
        labels: Mapping[str, str] | None = None,
        request_id: str | None = None,
    ) -> DatasetVersion:
        """Register a version of ``dataset`` (created with its first version).

        Args:
            uri: where the data is, e.g. ``s3://bucket/train.parquet`` (not fetched).
            version: ``[A-Za-z0-9][A-Za-z0-9._-]{0,127}``; the server makes ``v1``,
                ``v2``, ... per dataset if not given.
            digest: ``<algorithm>:<hex>``, e.g. ``sha256:9f86...``.
            schema: a JSON-able dict (a JSON object), stored in canonical form.
            split: what the data is for: ``train``, ``validation``, ``test``...
            batch_id: the data batch (batch learning), with ``data_start_time`` and
                ``data_end_time`` (timezone-aware) for the time range it covers.
            parents: the versions it was derived from: DatasetVersion objects or names.

        Raises:
            AlreadyExistsError: the version id is taken.
            NotFoundError: the project does not exist.
        """
        request = tr.create_dataset_version(
            project,
            dataset,
            uri=uri,
            version=version,
            digest=digest,
            row_count=row_count,
            schema=schema,
            description=description,
            split=split,
            batch_id=batch_id,
            data_start_time=data_start_time,
            data_end_time=data_end_time,
            parents=parents,
            labels=labels,
            request_id=request_id,
        )
        message = await self._rpc.call("CreateDatasetVersion", request, service=TRACKING)
        return _convert.dataset_version(message)

    async def get_dataset_version(self, project: str, dataset: str, version: str) -> DatasetVersion:
        name = f"{tr.dataset_name(project, dataset)}/versions/{version}"
        request = tracking.GetDatasetVersionRequest(name=name)
        message = await self._rpc.call("GetDatasetVersion", request, service=TRACKING)
        return _convert.dataset_version(message)

    def list_dataset_versions(
        self, project: str, dataset: str | None = None, *, filter: str = "", page_size: int = 0
    ) -> AsyncPager[DatasetVersion]:
        """Iterate over the versions of ``dataset``, or of every dataset of the project
        (None), oldest first; e.g. ``filter='batch_id >= "2024-11-01" AND split = "train"'``."""
        request = tracking.ListDatasetVersionsRequest(
            parent=tr.dataset_name(project, "-" if dataset is None else dataset),
            filter=filter,
            page_size=req.page_size(page_size),
        )
        return self._rpc.pages(
            "ListDatasetVersions",
            request,
            "dataset_versions",
            _convert.dataset_version,
            service=TRACKING,
        )

    async def get_dataset(self, project: str, dataset: str) -> Dataset:
        request = tracking.GetDatasetRequest(name=tr.dataset_name(project, dataset))
        return _convert.dataset(await self._rpc.call("GetDataset", request, service=TRACKING))

    def list_datasets(self, project: str, *, page_size: int = 0) -> AsyncPager[Dataset]:
        """Iterate over a project's datasets, by id."""
        request = tracking.ListDatasetsRequest(
            parent=req.project_name(project), page_size=req.page_size(page_size)
        )
        return self._rpc.pages(
            "ListDatasets", request, "datasets", _convert.dataset, service=TRACKING
        )
