"""Use cases on datasets and their versions."""

from __future__ import annotations

import re

from modelreg_server.domain import errors
from modelreg_server.domain.datasets import (
    Dataset,
    DatasetVersion,
    DatasetVersionRef,
    NewDatasetVersion,
)
from modelreg_server.domain.names import dataset_name
from modelreg_server.domain.types import ListQuery, Page
from modelreg_server.limits import DEFAULT_LIMITS, FieldLimits
from modelreg_server.service import idempotency as idem
from modelreg_server.service import validation as check
from modelreg_server.storage import datasets as dataset_q
from modelreg_server.storage.store import Conn, Store

# `<algorithm>:<lower-case hex>`, e.g. `sha256:9f86...`.
DIGEST_RE = re.compile(r"^[a-z0-9]{1,16}:[0-9a-f]{1,128}$")
MAX_SPLIT = 64
MAX_PARENTS = 100


def check_dataset_version_ref(ref: DatasetVersionRef, field: str) -> None:
    check.name(ref.project, field, "project")
    check.name(ref.dataset, field, "dataset")
    check.dataset_version_id(ref.version, field)


def check_new_dataset_version(
    spec: NewDatasetVersion, limits: FieldLimits, field: str = "dataset_version"
) -> None:
    if not spec.uri:
        raise errors.InvalidArgument(f"{field}.uri", "required")
    check.text(spec.uri, f"{field}.uri", check.MAX_URI)
    if spec.digest and not DIGEST_RE.fullmatch(spec.digest):
        raise errors.InvalidArgument(
            f"{field}.digest",
            "use <algorithm>:<hex>: algorithm of 1-16 a-z/0-9, then 1-128 lower-case hex digits",
        )
    if spec.row_count is not None and spec.row_count < 0:
        raise errors.InvalidArgument(f"{field}.row_count", "must not be negative")
    check.text(spec.description, f"{field}.description", check.MAX_DESCRIPTION)
    check.text(spec.split, f"{field}.split", MAX_SPLIT)
    check.text(spec.batch_id, f"{field}.batch_id")
    start, end = spec.data_start_time, spec.data_end_time
    if start is not None and end is not None and end < start:
        raise errors.InvalidArgument(f"{field}.data_end_time", "before data_start_time")
    if len(spec.parents) > MAX_PARENTS:
        raise errors.InvalidArgument(f"{field}.parents", f"more than {MAX_PARENTS} parents")
    for i, parent in enumerate(spec.parents):
        check_dataset_version_ref(parent, f"{field}.parents[{i}]")
    check.labels(spec.labels, f"{field}.labels", limits)


class DatasetsService:
    def __init__(
        self, store: Store, requests: idem.Idempotency, limits: FieldLimits = DEFAULT_LIMITS
    ) -> None:
        self._store = store
        self._requests = requests
        self._limits = limits

    async def create_dataset_version(
        self,
        project: str,
        dataset: str,
        version_id: str,
        spec: NewDatasetVersion,
        *,
        actor: str,
        request_id: str = "",
    ) -> DatasetVersion:
        check.name(project, "parent", "project")
        check.name(dataset, "parent", "dataset")
        if version_id:
            check.dataset_version_id(version_id, "version_id")
        check_new_dataset_version(spec, self._limits)

        async def work(conn: Conn) -> DatasetVersion:
            return await dataset_q.create_version(
                conn, project, dataset, version_id, spec, created_by=actor
            )

        payload = (project, dataset, version_id, spec)
        return await self._requests.run(
            idem.CREATE_DATASET_VERSION,
            request_id,
            payload,
            work,
            scope=dataset_name(project, dataset),
        )

    async def get_dataset_version(self, ref: DatasetVersionRef) -> DatasetVersion:
        async with self._store.read() as conn:
            return await dataset_q.get_version(conn, ref)

    async def list_dataset_versions(
        self, project: str, dataset: str, q: ListQuery
    ) -> Page[DatasetVersion]:
        tokens = await self._store.page_tokens()
        async with self._store.read() as conn:
            return await dataset_q.list_versions(conn, project, dataset, q, tokens)

    async def get_dataset(self, project: str, dataset: str) -> Dataset:
        async with self._store.read() as conn:
            return await dataset_q.get_dataset(conn, project, dataset)

    async def list_datasets(self, project: str, q: ListQuery) -> Page[Dataset]:
        tokens = await self._store.page_tokens()
        async with self._store.read() as conn:
            return await dataset_q.list_datasets(conn, project, q, tokens)
