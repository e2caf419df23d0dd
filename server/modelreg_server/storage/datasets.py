"""Queries on datasets and their versions.

A dataset is made by its first version: registering a version upserts the
dataset row (its version counter, under the row lock), takes the given or the
next free version id, and writes the version with its parent and label rows, in
the caller's transaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from sqlalchemy import ColumnElement, func, or_, select, text
from sqlalchemy.dialects.postgresql import insert

from modelreg_server.domain import errors
from modelreg_server.domain.datasets import (
    Dataset,
    DatasetVersion,
    DatasetVersionRef,
    NewDatasetVersion,
)
from modelreg_server.domain.names import dataset_name, dataset_version_name
from modelreg_server.domain.types import ListQuery, Page
from modelreg_server.storage import filters, ids, pagination
from modelreg_server.storage import projects as project_q
from modelreg_server.storage.store import Conn
from modelreg_server.storage.tables import (
    dataset_version_labels,
    dataset_version_parents,
    dataset_versions,
    datasets,
    projects,
)

dv = dataset_versions

# What a Dataset record is: the row and its project's name.
READ_DATASETS = select(*datasets.c, projects.c.name.label("project_name")).join(
    projects, projects.c.id == datasets.c.project_id
)
# What a DatasetVersion record is: the row and the names it lives under.
READ = (
    select(
        *dv.c,
        projects.c.name.label("project_name"),
        datasets.c.name.label("dataset_name"),
    )
    .join(datasets, datasets.c.id == dv.c.dataset_id)
    .join(projects, projects.c.id == datasets.c.project_id)
)

_RESOLVE = text(
    """
    SELECT r.ord, dv.id
    FROM unnest(CAST(:projects AS text[]), CAST(:datasets AS text[]), CAST(:versions AS text[]))
         WITH ORDINALITY AS r(project, dataset, version, ord)
    JOIN projects p ON p.name = r.project
    JOIN datasets s ON s.project_id = p.id AND s.name = r.dataset
    JOIN dataset_versions dv ON dv.dataset_id = s.id AND dv.version = r.version
    """
)


def ref_name(ref: DatasetVersionRef) -> str:
    return dataset_version_name(ref.project, ref.dataset, ref.version)


async def resolve_ids(conn: Conn, refs: Sequence[DatasetVersionRef], field: str) -> list[int]:
    """Row ids of existing dataset versions, in order, in one query; a missing one
    is INVALID_ARGUMENT naming ``field[i]``."""
    if not refs:
        return []
    rows = await conn.execute(
        _RESOLVE,
        {
            "projects": [r.project for r in refs],
            "datasets": [r.dataset for r in refs],
            "versions": [r.version for r in refs],
        },
    )
    found = {row.ord: row.id for row in rows}
    result = []
    for i, ref in enumerate(refs):
        hit = found.get(i + 1)
        if hit is None:
            raise errors.InvalidArgument(
                f"{field}[{i}]", f"no such dataset version: {ref_name(ref)}"
            )
        result.append(int(hit))
    return result


async def resolve_id(conn: Conn, ref: DatasetVersionRef, field: str) -> int:
    """The row id of one existing dataset version; INVALID_ARGUMENT naming ``field``."""
    found = await conn.scalar(
        select(dv.c.id)
        .join(datasets, datasets.c.id == dv.c.dataset_id)
        .join(projects, projects.c.id == datasets.c.project_id)
        .where(
            projects.c.name == ref.project,
            datasets.c.name == ref.dataset,
            dv.c.version == ref.version,
        )
    )
    if found is None:
        raise errors.InvalidArgument(field, f"no such dataset version: {ref_name(ref)}")
    return int(found)


async def create_version(
    conn: Conn,
    project: str,
    dataset: str,
    version_id: str,
    spec: NewDatasetVersion,
    *,
    created_by: str,
) -> DatasetVersion:
    pid = await project_q.id_of(conn, project)
    parent_ids = await resolve_ids(conn, spec.parents, "dataset_version.parents")
    upsert = insert(datasets).values(project_id=pid, name=dataset, version_count=1)
    ds = int(
        (
            await conn.execute(
                upsert.on_conflict_do_update(
                    index_elements=[datasets.c.project_id, datasets.c.name],
                    set_={
                        "version_count": datasets.c.version_count + 1,
                        "update_time": func.now(),
                    },
                ).returning(datasets.c.id)
            )
        ).scalar_one()
    )
    values = {
        "dataset_id": ds,
        "uri": spec.uri,
        "digest": spec.digest,
        "row_count": spec.row_count,
        "schema_json": spec.schema_json,
        "description": spec.description,
        "split": spec.split,
        "batch_id": spec.batch_id,
        "data_start_time": spec.data_start_time,
        "data_end_time": spec.data_end_time,
        "parent_list": [ref_name(r) for r in spec.parents],
        "labels": dict(spec.labels),
        "created_by": created_by,
    }

    async def insert_row(name: str) -> int | None:
        row = (
            await conn.execute(
                insert(dv)
                .values(version=name, **values)
                .on_conflict_do_nothing(index_elements=[dv.c.dataset_id, dv.c.version])
                .returning(dv.c.id)
            )
        ).first()
        return None if row is None else int(row.id)

    def taken(name: str) -> errors.RegistryError:
        return errors.AlreadyExists("dataset version", dataset_version_name(project, dataset, name))

    row_id, _ = await ids.insert_named(
        conn,
        kind=ids.DATASET_VERSION,
        parent_id=ds,
        given=version_id,
        spell=lambda n: f"v{n}",
        insert_row=insert_row,
        taken=taken,
    )
    if parent_ids:
        await conn.execute(
            dataset_version_parents.insert(),
            [
                {"child_id": row_id, "position": i, "parent_id": p}
                for i, p in enumerate(parent_ids, 1)
            ],
        )
    if spec.labels:
        await conn.execute(
            dataset_version_labels.insert(),
            [{"version_id": row_id, "key": k, "value": v} for k, v in spec.labels.items()],
        )
    return await get_by_id(conn, row_id)


async def get_by_id(conn: Conn, row_id: int) -> DatasetVersion:
    return cast(DatasetVersion, (await conn.execute(READ.where(dv.c.id == row_id))).one()._mapping)


async def _dataset_id(conn: Conn, project: str, dataset: str) -> int:
    """The dataset's row id; NotFound for the project, else the dataset."""
    found = await conn.scalar(
        select(datasets.c.id)
        .join(projects, projects.c.id == datasets.c.project_id)
        .where(projects.c.name == project, datasets.c.name == dataset)
    )
    if found is None:
        await project_q.id_of(conn, project)
        raise errors.NotFound("dataset", dataset_name(project, dataset))
    return int(found)


async def get_version(conn: Conn, ref: DatasetVersionRef) -> DatasetVersion:
    row = (
        await conn.execute(
            READ.where(
                projects.c.name == ref.project,
                datasets.c.name == ref.dataset,
                dv.c.version == ref.version,
            )
        )
    ).first()
    if row is None:
        await _dataset_id(conn, ref.project, ref.dataset)
        raise errors.NotFound("dataset version", ref_name(ref))
    return cast(DatasetVersion, row._mapping)


def _nullable(col: Any, kind: str) -> filters.FieldCompiler:
    """A column that may be NULL (unknown): `!=` also matches rows where it is."""
    plain = filters.column(col, kind)

    def compile_(key: str, op: str, value: filters.Value) -> ColumnElement[bool]:
        clause = plain(key, op, value)
        return or_(col.is_(None), clause) if op == "!=" else clause

    return compile_


VERSION_FIELDS: Mapping[str, filters.FieldCompiler] = {
    "dataset": filters.column(datasets.c.name, "str"),
    "version": filters.column(dv.c.version, "str"),
    "batch_id": filters.column(dv.c.batch_id, "str"),
    "split": filters.column(dv.c.split, "str"),
    "digest": filters.column(dv.c.digest, "str"),
    "uri": filters.column(dv.c.uri, "str"),
    "created_by": filters.column(dv.c.created_by, "str"),
    "create_time": filters.column(dv.c.create_time, "time"),
    "data_start_time": _nullable(dv.c.data_start_time, "time"),
    "data_end_time": _nullable(dv.c.data_end_time, "time"),
    "row_count": _nullable(dv.c.row_count, "int"),
    "labels.": filters.label_rows(dataset_version_labels.c.version_id, dv.c.id),
}


async def list_versions(
    conn: Conn, project: str, dataset: str, q: ListQuery, tokens: pagination.PageTokens
) -> Page[DatasetVersion]:
    """Versions of one dataset, or of every dataset of the project (``dataset`` "-"),
    oldest first."""
    if q.order_by:
        raise errors.InvalidArgument("order_by", "not supported: versions are listed oldest first")
    where = [filters.compile_filter(q.filter, VERSION_FIELDS)]
    if dataset == "-":
        where.append(datasets.c.project_id == await project_q.id_of(conn, project))
    else:
        where.append(dv.c.dataset_id == await _dataset_id(conn, project, dataset))
    found = await pagination.fetch_page(
        conn, READ.where(*where), [dv.c.create_time, dv.c.id], False, q, tokens, project, dataset
    )
    return cast(Page[DatasetVersion], found)


async def get_dataset(conn: Conn, project: str, dataset: str) -> Dataset:
    row = (
        await conn.execute(
            READ_DATASETS.where(projects.c.name == project, datasets.c.name == dataset)
        )
    ).first()
    if row is None:
        await project_q.id_of(conn, project)
        raise errors.NotFound("dataset", dataset_name(project, dataset))
    return cast(Dataset, row._mapping)


async def list_datasets(
    conn: Conn, project: str, q: ListQuery, tokens: pagination.PageTokens
) -> Page[Dataset]:
    pid = await project_q.id_of(conn, project)
    query = READ_DATASETS.where(datasets.c.project_id == pid)
    found = await pagination.fetch_page(conn, query, [datasets.c.name], False, q, tokens, project)
    return cast(Page[Dataset], found)
