"""Ranking versions by a score: one prepared statement per page, on the hot raw
connection.

The statement walks ``ix_version_scores_rank`` (dataset version, slice, metric,
value, version) from the best value: forward for a minimum, backward for a
maximum, where an incremental sort on the version id orders equal values by
registration (the earlier version ranks higher). Each row joins its version by
primary key, is kept if it passes the scope, the state and the filter, and the
walk stops at the page's ``limit + 1`` rows. The page token carries the last
row's (score, version id) and rank, so the next page starts where this one
ended and goes on counting."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Double,
    Select,
    Text,
    bindparam,
    literal_column,
    select,
)

from modelreg_server.domain import errors
from modelreg_server.domain.datasets import Goal, RankedVersion, RankQuery
from modelreg_server.domain.types import Page, VersionState
from modelreg_server.storage import filters, pagination
from modelreg_server.storage import versions as version_q
from modelreg_server.storage.sql import StatementCache
from modelreg_server.storage.store import RawConn
from modelreg_server.storage.tables import (
    dataset_versions,
    datasets,
    evaluations,
    models,
    projects,
    version_scores,
)
from modelreg_server.storage.tables import model_versions as mv
from modelreg_server.storage.version_filters import RANK_FIELDS

vs = version_scores
_dp = projects.alias("dp")
# Aliases: the call's model is named by MODEL_ID over the plain tables, which
# must not correlate with the rows' own model and project.
_m = models.alias("rm")
_p = projects.alias("rp")
# The dataset version named by the call, resolved once (an InitPlan) so the
# walk's index condition is a constant.
DATASET_VERSION_ID = (
    select(dataset_versions.c.id)
    .join(datasets, datasets.c.id == dataset_versions.c.dataset_id)
    .join(_dp, _dp.c.id == datasets.c.project_id)
    .where(
        _dp.c.name == bindparam("dv_project", type_=Text),
        datasets.c.name == bindparam("dv_dataset", type_=Text),
        dataset_versions.c.version == bindparam("dv_version", type_=Text),
    )
    .scalar_subquery()
)
_READ_COLUMNS = {c.key: c for c in version_q.READ.selected_columns}
# What a RankedVersion record is: a version record whose model and project names
# come from the row (a project-wide ranking spans models), with the score.
READ = select(
    *mv.c,
    _p.c.name.label("project_name"),
    _m.c.name.label("model_name"),
    _READ_COLUMNS["alias_names"],
    _READ_COLUMNS["parent"],
    vs.c.value.label("score"),
    evaluations.c.evaluation_id.label("evaluation"),
).select_from(
    vs.join(mv, mv.c.id == vs.c.version_id)
    .join(_m, _m.c.id == mv.c.model_id)
    .join(_p, _p.c.id == _m.c.project_id)
    .join(evaluations, evaluations.c.id == vs.c.evaluation_id)
)

_PAGES = StatementCache()


def _statement(
    by_model: bool, goal: Goal, filter_text: str, after: bool, limit: int
) -> Select[Any]:
    """The page statement. ``limit`` is written into the SQL, not bound: with an
    unknown limit a generic plan (a prepared statement's, from its sixth call on)
    expects to read a tenth of the scores, and sorts them all instead of walking
    the index for the few the page needs."""
    where: list[ColumnElement[bool]] = [
        vs.c.dataset_version_id == DATASET_VERSION_ID,
        vs.c.slice == bindparam("slice", type_=Text),
        vs.c.key == bindparam("metric", type_=Text),
        # Written into the SQL: as a parameter, a generic plan guesses that few
        # versions pass and plans a sort of every score.
        mv.c.state != literal_column(f"'{VersionState.DELETED.value}'"),
        filters.compile_filter(filter_text, RANK_FIELDS),
    ]
    if by_model:
        where.append(mv.c.model_id == version_q.MODEL_ID)
    else:
        where.append(_p.c.name == bindparam("project", type_=Text))
    value = bindparam("after_value", type_=Double)
    vid = bindparam("after_id", type_=BigInteger)
    if goal is Goal.MAXIMIZE:
        order = (vs.c.value.desc(), vs.c.version_id.asc())
        if after:
            # `value <= v` bounds the index range; the rest skips the rows seen.
            where += [vs.c.value <= value, (vs.c.value < value) | (vs.c.version_id > vid)]
    else:
        order = (vs.c.value.asc(), vs.c.version_id.asc())
        if after:
            where.append(pagination.after([vs.c.value, vs.c.version_id], [value, vid], False))
    return READ.where(*where).order_by(*order).limit(literal_column(str(int(limit))))


def _fingerprint(q: RankQuery) -> str:
    ref = q.dataset_version
    return pagination.fingerprint(
        "rank", q.project, q.model, q.metric, ref.project, ref.dataset, ref.version, q.slice,
        q.goal.value, q.filter,
    )  # fmt: skip


def _after(token: str, fp: str, tokens: pagination.PageTokens) -> tuple[float, int, int]:
    value, vid, rank = tokens.decode(token, fp, 3)
    if type(value) not in (int, float) or type(vid) is not int or type(rank) is not int or rank < 0:
        raise errors.InvalidArgument("page_token", "page token from an older listing; list again")
    return float(value), vid, rank


async def rank(
    raw: RawConn, q: RankQuery, tokens: pagination.PageTokens
) -> tuple[Page[RankedVersion], int]:
    """A page of the ranking and the rank of its first row."""
    size = pagination.page_size(q.page_size)
    fp = _fingerprint(q)
    ref = q.dataset_version
    values: dict[str, Any] = {
        "project": q.project,
        "model": q.model,
        "dv_project": ref.project,
        "dv_dataset": ref.dataset,
        "dv_version": ref.version,
        "slice": q.slice,
        "metric": q.metric,
    }
    offset = 0
    if q.page_token:
        values["after_value"], values["after_id"], offset = _after(q.page_token, fp, tokens)
    by_model = bool(q.model)
    after = bool(q.page_token)
    statement = _PAGES.get(
        (by_model, q.goal, q.filter, after, size + 1),
        lambda: _statement(by_model, q.goal, q.filter, after, size + 1),
    )
    rows: Sequence[Any] = await raw.fetch(statement.sql, *statement.args(values))
    if len(rows) > size:
        last = rows[size - 1]
        token = tokens.encode(fp, [last["score"], last["id"], offset + size])
        return Page(items=cast(Sequence[RankedVersion], rows[:size]), next_page_token=token), (
            offset + 1
        )
    return Page(items=cast(Sequence[RankedVersion], rows)), offset + 1
