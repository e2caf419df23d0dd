"""Batch-learning queries: the data batches of a project, the model versions that
learned from a batch, the batches behind a version, and a metric from batch to
batch (domain/batches.py says what "learned from" means).

Each is one read on an autocommit connection. What a call is about must exist
(NOT_FOUND: the project, the batch's dataset version, the model version, the
model); a batch id matches what it matches, and a series' source dataset version
is an argument (INVALID_ARGUMENT when missing, as in rankings)."""

from __future__ import annotations

from collections.abc import Sequence

from modelreg_server.domain import errors
from modelreg_server.domain.batches import (
    Batch,
    BatchBehind,
    BatchPoint,
    SeriesQuery,
    TrainedOnQuery,
    TrainedVersion,
)
from modelreg_server.domain.types import ListQuery, Page, VersionRef
from modelreg_server.service import validation as check
from modelreg_server.service.datasets import check_dataset_version_ref
from modelreg_server.service.evaluations import MAX_SLICE
from modelreg_server.storage import batch_series as series_q
from modelreg_server.storage import batches as batch_q
from modelreg_server.storage import datasets as dataset_q
from modelreg_server.storage import models as model_q
from modelreg_server.storage import pagination
from modelreg_server.storage import projects as project_q
from modelreg_server.storage import versions as version_q
from modelreg_server.storage.store import Store


def _check_metric(metric: str) -> None:
    if not metric:
        raise errors.InvalidArgument("metric", "required: a metric key, e.g. accuracy")
    check.stored_metric_key(metric, "metric")


class BatchesService:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def list_batches(self, project: str, dataset: str, q: ListQuery) -> Page[Batch]:
        """The project's batches (of ``dataset`` only, when given), by data start time."""
        if dataset:
            check.name(dataset, "dataset", "dataset")
        pagination.page_size(q.page_size)
        tokens = await self._store.page_tokens()
        async with self._store.read() as conn:
            project_id = await project_q.id_of(conn, project)
            return await batch_q.list_batches(conn, project_id, dataset, q, tokens)

    async def versions_trained_on(self, q: TrainedOnQuery) -> Page[TrainedVersion]:
        """The project's versions that learned from the batch, by model and number."""
        if q.batch_id and q.dataset_version is not None:
            raise errors.InvalidArgument(
                "dataset_version", "give batch_id or dataset_version, not both"
            )
        if not q.batch_id and q.dataset_version is None:
            raise errors.InvalidArgument(
                "batch_id", "required: a batch id, or a dataset version as dataset_version"
            )
        check.text(q.batch_id, "batch_id")
        if q.dataset_version is not None:
            check_dataset_version_ref(q.dataset_version, "dataset_version")
        pagination.page_size(q.page_size)
        tokens = await self._store.page_tokens()
        async with self._store.read() as conn:
            project_id = await project_q.id_of(conn, q.project)
            dataset_version_id = None
            if q.dataset_version is not None:
                found = await dataset_q.get_version(conn, q.dataset_version)
                dataset_version_id = found["id"]
            return await batch_q.trained_on(conn, project_id, q, dataset_version_id, tokens)

    async def batches_behind(
        self, ref: VersionRef, direct_only: bool
    ) -> tuple[Sequence[BatchBehind], bool]:
        """The dataset versions behind a version (by number, alias or ``latest``), and
        whether the list was cut short."""
        async with self._store.read() as conn:
            version_id, _, _ = await version_q.resolve_id(conn, ref)
            return await series_q.behind(conn, version_id, direct_only)

    async def metric_series(self, q: SeriesQuery) -> Sequence[BatchPoint]:
        """A metric of the model's versions, each at its newest training batch."""
        _check_metric(q.metric)
        check.text(q.slice, "slice", MAX_SLICE)
        if q.dataset_version is None and q.slice:
            raise errors.InvalidArgument(
                "slice", "a slice of the evaluations on dataset_version: give dataset_version too"
            )
        if q.dataset_version is not None:
            check_dataset_version_ref(q.dataset_version, "dataset_version")
        async with self._store.read() as conn:
            model_id = await model_q.id_of(conn, q.project, q.model)
            dataset_version_id = None
            if q.dataset_version is not None:
                # As in rankings: where the value comes from is an argument, not the subject.
                dataset_version_id = await dataset_q.resolve_id(
                    conn, q.dataset_version, "dataset_version"
                )
            return await series_q.series(conn, model_id, dataset_version_id, q)
