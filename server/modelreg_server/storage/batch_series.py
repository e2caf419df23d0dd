"""Queries from a model version back to its data, and a metric from batch to batch.

Behind a version are its own training data and, through incremental training,
that of the versions it was fine-tuned from: the parent chain
(``model_versions.parent_id``) as a recursive CTE, bounded at ``MAX_ROWS``
generations. The series places each version of a model at its newest training
batch, with a metric from its latest evaluation on a dataset version
(``version_scores``, as rankings read it) or from its source run's latest
metrics (``run_latest_metrics``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Integer, Text, exists, literal, select, true
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import array, distinct_on

from modelreg_server.domain.batches import MAX_ROWS, BatchBehind, BatchPoint, SeriesQuery
from modelreg_server.domain.types import DataRole, VersionState
from modelreg_server.storage import datasets as dataset_q
from modelreg_server.storage.store import Conn
from modelreg_server.storage.tables import dataset_versions as dv
from modelreg_server.storage.tables import datasets, models, projects, run_latest_metrics
from modelreg_server.storage.tables import model_versions as mv
from modelreg_server.storage.tables import version_data as vd
from modelreg_server.storage.tables import version_scores as vs

_DELETED = VersionState.DELETED.value


def _chain(version_id: int, direct_only: bool) -> Any:
    """(id, parent_id, generations) of the version and (unless ``direct_only``) its
    ancestors."""
    chain: Any = (
        select(mv.c.id, mv.c.parent_id, literal(0, Integer).label("generations"))
        .where(mv.c.id == version_id)
        .cte("chain", recursive=not direct_only)
    )
    if direct_only:
        return chain
    up = mv.alias("up")
    return chain.union_all(
        select(up.c.id, up.c.parent_id, chain.c.generations + 1).where(
            up.c.id == chain.c.parent_id, chain.c.generations < MAX_ROWS
        )
    )


def _behind_statement(version_id: int, direct_only: bool) -> Any:
    chain = _chain(version_id, direct_only)
    nearest = (
        select(
            vd.c.dataset_version_id,
            vd.c.role,
            vd.c.position,
            vd.c.version_id,
            chain.c.generations,
        )
        .join(chain, chain.c.id == vd.c.version_id)
        .ext(distinct_on(vd.c.dataset_version_id))
        .order_by(vd.c.dataset_version_id, chain.c.generations, vd.c.position)
        .subquery("nearest")
    )
    tv, tm, tp = mv.alias("tv"), models.alias("tm"), projects.alias("tp")
    cut = _cut(chain)
    return (
        dataset_q.READ.add_columns(
            nearest.c.role,
            array([tp.c.name, tm.c.name, sql_cast(tv.c.version, Text)]).label("trained_by"),
            nearest.c.generations,
            cut.label("cut"),
        )
        .join(nearest, nearest.c.dataset_version_id == dv.c.id)
        .join(tv, tv.c.id == nearest.c.version_id)
        .join(tm, tm.c.id == tv.c.model_id)
        .join(tp, tp.c.id == tm.c.project_id)
        .order_by(nearest.c.generations, nearest.c.position)
        .limit(MAX_ROWS + 1)
    )


async def behind(
    conn: Conn, version_id: int, direct_only: bool
) -> tuple[Sequence[BatchBehind], bool]:
    """The dataset versions behind a version, each once (at its nearest generation),
    nearest generation first, then in training-data order; and whether the list was
    cut at ``MAX_ROWS``."""
    rows: Sequence[Any] = (
        (await conn.execute(_behind_statement(version_id, direct_only))).mappings().all()
    )
    if rows:
        truncated = len(rows) > MAX_ROWS or bool(rows[0]["cut"])
    else:  # no data within reach: still say whether the chain went on
        chain = _chain(version_id, direct_only)
        truncated = bool(await conn.scalar(select(_cut(chain))))
    return cast(Sequence[BatchBehind], rows[:MAX_ROWS]), truncated


def _cut(chain: Any) -> Any:
    """Whether the parent chain goes on beyond MAX_ROWS generations."""
    return exists().where(chain.c.generations >= MAX_ROWS, chain.c.parent_id.is_not(None))


def _series_statement(model_id: int, dataset_version_id: int | None, q: SeriesQuery) -> Any:
    bp, bds = projects.alias("bp"), datasets.alias("bds")
    newest = (
        select(
            array([bp.c.name, bds.c.name, dv.c.version]).label("batch"),
            dv.c.batch_id,
            dv.c.data_start_time,
            dv.c.data_end_time,
        )
        .select_from(
            vd.join(dv, dv.c.id == vd.c.dataset_version_id)
            .join(bds, bds.c.id == dv.c.dataset_id)
            .join(bp, bp.c.id == bds.c.project_id)
        )
        .where(vd.c.version_id == mv.c.id, vd.c.role == DataRole.TRAIN.value, dv.c.batch_id != "")
        .order_by(dv.c.data_start_time.desc().nulls_last(), vd.c.position.desc())
        .limit(1)
        .lateral("newest")
    )
    if dataset_version_id is not None:
        value = select(vs.c.value).where(
            vs.c.version_id == mv.c.id,
            vs.c.dataset_version_id == dataset_version_id,
            vs.c.slice == q.slice,
            vs.c.key == q.metric,
        )
    else:
        rlm = run_latest_metrics
        value = select(rlm.c.value).where(rlm.c.run_id == mv.c.run_id, rlm.c.key == q.metric)
    return (
        select(
            newest.c.batch,
            newest.c.batch_id,
            newest.c.data_start_time,
            newest.c.data_end_time,
            literal(q.project, Text).label("project_name"),
            literal(q.model, Text).label("model_name"),
            mv.c.version,
            value.scalar_subquery().label("value"),
        )
        .select_from(mv.join(newest, true()))
        .where(mv.c.model_id == model_id, mv.c.state != _DELETED)
        .order_by(newest.c.data_start_time.asc().nulls_last(), newest.c.batch_id, mv.c.version)
        .limit(MAX_ROWS)
    )


async def series(
    conn: Conn, model_id: int, dataset_version_id: int | None, q: SeriesQuery
) -> Sequence[BatchPoint]:
    """One point per (not deleted) version of the model with a batch in its TRAIN
    data: by the batch's data start time (unset last), batch id, version number."""
    statement = _series_statement(model_id, dataset_version_id, q)
    return cast(Sequence[BatchPoint], (await conn.execute(statement)).mappings().all())
