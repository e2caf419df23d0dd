"""Queries on data batches: the batches of a project, and the model versions that
learned from a batch.

"Learned from" follows incremental training: a version with the batch in its
training data (``model_version_data``, any role), then the versions fine-tuned
from it (``model_versions.parent_id``), transitively, as a recursive CTE. Parent
links only point at older versions, so the walk has no cycles; it is bounded
all the same, at ``MAX_ROWS`` rows (the nearest generations are kept: the CTE
is evaluated level by level, and only as many rows as the LIMIT asks for).
Soft-deleted versions carry the walk on but are not listed or counted."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Integer,
    Select,
    Text,
    case,
    func,
    literal,
    literal_column,
    select,
    true,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import array, distinct_on

from modelreg_server.domain.batches import MAX_ROWS, Batch, TrainedOnQuery, TrainedVersion
from modelreg_server.domain.types import ListQuery, Page, VersionState
from modelreg_server.storage import datasets as dataset_q
from modelreg_server.storage import pagination
from modelreg_server.storage import versions as version_q
from modelreg_server.storage.store import Conn
from modelreg_server.storage.tables import dataset_versions as dv
from modelreg_server.storage.tables import datasets, models, projects
from modelreg_server.storage.tables import model_versions as mv
from modelreg_server.storage.tables import version_data as vd

_DELETED = VersionState.DELETED.value
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

# Batches


# The number of (not deleted) versions with the batch in their own training data.
_COUNT = (
    select(func.count(func.distinct(vd.c.version_id)))
    .select_from(vd.join(mv, mv.c.id == vd.c.version_id))
    .where(vd.c.dataset_version_id == dv.c.id, mv.c.state != _DELETED)
    .scalar_subquery()
)
# What a Batch record is: a dataset version record and its count.
READ_BATCHES = dataset_q.READ.add_columns(_COUNT.label("model_version_count"))
# The order of batches: by data start time, unset last, then dataset and version
# (in the order they were made). A start time's sort key is never NULL, so the
# keyset comparison holds.
_BATCH_KEYS = (
    case((dv.c.data_start_time.is_(None), 1), else_=0),
    func.coalesce(dv.c.data_start_time, literal(_EPOCH, DateTime(timezone=True))),
    datasets.c.name,
    dv.c.id,
)


def _batch_key(row: Any) -> list[Any]:
    start = row["data_start_time"]
    return [int(start is None), start or _EPOCH, row["dataset_name"], row["id"]]


def _keyset(
    query: Select[Any], keys: Sequence[Any], q: ListQuery, tokens: pagination.PageTokens, fp: str
) -> Select[Any]:
    """``query`` narrowed to the rows after the page token, in the keys' order, with
    ``limit + 1`` rows to tell whether another page follows."""
    if q.page_token:
        key = pagination.check_key(tokens.decode(q.page_token, fp, len(keys)), keys)
        query = query.where(pagination.after(keys, key, False))
    return query.order_by(*(k.asc() for k in keys)).limit(pagination.page_size(q.page_size) + 1)


def _page(
    rows: Sequence[Any],
    q: ListQuery,
    fp: str,
    key_of: Callable[[Any], list[Any]],
    tokens: pagination.PageTokens,
) -> Page[Any]:
    """The page of ``rows`` with a token after its last row if more followed."""
    size = pagination.page_size(q.page_size)
    if len(rows) > size:
        return Page(items=rows[:size], next_page_token=tokens.encode(fp, key_of(rows[size - 1])))
    return Page(items=rows)


async def list_batches(
    conn: Conn, project_id: int, dataset: str, q: ListQuery, tokens: pagination.PageTokens
) -> Page[Batch]:
    """A page of the project's batches (of one dataset, if ``dataset`` is not empty)."""
    where: list[ColumnElement[bool]] = [datasets.c.project_id == project_id, dv.c.batch_id != ""]
    if dataset:
        where.append(datasets.c.name == dataset)
    fp = pagination.fingerprint("batches", project_id, dataset)
    query = _keyset(READ_BATCHES.where(*where), _BATCH_KEYS, q, tokens, fp)
    rows = (await conn.execute(query)).mappings().all()
    return cast(Page[Batch], _page(rows, q, fp, _batch_key, tokens))


# Versions trained on a batch


def _learned(seeds: Select[Any], direct_only: bool) -> Any:
    """(version_id, dataset_version_id, role, position, generations, via_id) of the
    versions that learned from the seeds' dataset versions, one row per version and
    dataset version: the nearest generation (then the first listed use)."""
    tree: Any = seeds.cte("learned", recursive=not direct_only)
    if not direct_only:
        # The children of each version, by the parent_id index. A lateral subquery
        # kept apart (OFFSET 0): as a plain join, a table without statistics yet
        # (one that just grew) is planned as a hash join that reads every version
        # once per generation.
        child = (
            select(mv.c.id)
            .where(mv.c.parent_id == tree.c.version_id)
            .offset(literal_column("0"))
            .lateral("child")
        )
        tree = tree.union_all(
            select(
                child.c.id,
                tree.c.dataset_version_id,
                tree.c.role,
                tree.c.position,
                tree.c.generations + 1,
                tree.c.via_id,
            )
            .select_from(tree.join(child, true()))
            .where(tree.c.generations < MAX_ROWS)
        )
    bounded = select(tree).limit(MAX_ROWS).subquery("bounded")
    return (
        select(bounded)
        .ext(distinct_on(bounded.c.version_id, bounded.c.dataset_version_id))
        .order_by(
            bounded.c.version_id,
            bounded.c.dataset_version_id,
            bounded.c.generations,
            bounded.c.position,
        )
        .subquery("nearest")
    )


def _seeds(project_id: int, batch_id: str, dataset_version_id: int | None) -> Select[Any]:
    """The direct uses of the batch: its dataset version's, or those of every dataset
    version of the project with the batch id."""
    if dataset_version_id is not None:
        matched: ColumnElement[bool] = vd.c.dataset_version_id == dataset_version_id
    else:
        ids = (
            select(dv.c.id)
            .join(datasets, datasets.c.id == dv.c.dataset_id)
            .where(datasets.c.project_id == project_id, dv.c.batch_id == batch_id)
        )
        matched = vd.c.dataset_version_id.in_(ids)
    return select(
        vd.c.version_id,
        vd.c.dataset_version_id,
        vd.c.role,
        vd.c.position,
        literal(0, Integer).label("generations"),
        vd.c.version_id.label("via_id"),
    ).where(matched)


def _names(version: Any, model: Any, project: Any) -> Any:
    """[project, model, number] of a version, as text[]."""
    return array([project.c.name, model.c.name, sql_cast(version.c.version, Text)])


_READ_COLUMNS = {c.key: c for c in version_q.READ.selected_columns}


def _trained_statement(nearest: Any, project_id: int) -> tuple[Select[Any], Sequence[Any]]:
    """What a TrainedVersion record is, over ``nearest`` (see ``_learned``), and its
    page keys."""
    m, p = models.alias("tm"), projects.alias("tp")
    bdv, bds, bp = dv.alias("bdv"), datasets.alias("bds"), projects.alias("bp")
    vv, vm, vp = mv.alias("vv"), models.alias("vm"), projects.alias("vp")
    via = (
        select(_names(vv, vm, vp))
        .select_from(vv.join(vm, vm.c.id == vv.c.model_id).join(vp, vp.c.id == vm.c.project_id))
        .where(vv.c.id == nearest.c.via_id)
        .scalar_subquery()
    )
    keys = (m.c.name, mv.c.version, nearest.c.dataset_version_id)
    query = (
        select(
            *mv.c,
            p.c.name.label("project_name"),
            m.c.name.label("model_name"),
            _READ_COLUMNS["alias_names"],
            _READ_COLUMNS["parent"],
            array([bp.c.name, bds.c.name, bdv.c.version]).label("batch"),
            nearest.c.dataset_version_id,
            nearest.c.role,
            nearest.c.generations,
            case((nearest.c.generations == 0, None), else_=via).label("via"),
        )
        .select_from(
            nearest.join(mv, mv.c.id == nearest.c.version_id)
            .join(m, m.c.id == mv.c.model_id)
            .join(p, p.c.id == m.c.project_id)
            .join(bdv, bdv.c.id == nearest.c.dataset_version_id)
            .join(bds, bds.c.id == bdv.c.dataset_id)
            .join(bp, bp.c.id == bds.c.project_id)
        )
        .where(m.c.project_id == project_id, mv.c.state != _DELETED)
    )
    return query, keys


async def trained_on(
    conn: Conn,
    project_id: int,
    q: TrainedOnQuery,
    dataset_version_id: int | None,
    tokens: pagination.PageTokens,
) -> Page[TrainedVersion]:
    """A page of the project's versions that learned from the batch, by model name,
    version number, then dataset version."""
    nearest = _learned(_seeds(project_id, q.batch_id, dataset_version_id), q.direct_only)
    query, keys = _trained_statement(nearest, project_id)
    ref = q.dataset_version
    fp = pagination.fingerprint(
        "trained-on",
        q.project,
        q.batch_id,
        "" if ref is None else dataset_q.ref_name(ref),
        q.direct_only,
    )
    listing = ListQuery(page_size=q.page_size, page_token=q.page_token)
    rows = (await conn.execute(_keyset(query, keys, listing, tokens, fp))).mappings().all()
    page = _page(rows, listing, fp, _trained_key, tokens)
    return cast(Page[TrainedVersion], page)


def _trained_key(row: Any) -> list[Any]:
    return [row["model_name"], row["version"], row["dataset_version_id"]]
