"""Registering a version: one SQL statement of data-modifying CTEs.

It creates the model if missing, increments the model's counter under its row
lock, inserts the version with its params, labels and data references, records
the request_id with the response (the new version record) if there is one, and
commits as a unit. No MAX()+1, no gap on failure: a failed statement rolls back
the counter too, and a request_id already taken fails the statement whole."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any, cast

import asyncpg
from sqlalchemy import (
    CTE,
    BigInteger,
    Select,
    Text,
    bindparam,
    column,
    func,
    insert,
    literal,
    literal_column,
    select,
    true,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import JSONB, aggregate_order_by
from sqlalchemy.dialects.postgresql import insert as pg_insert

from modelreg_server.domain import errors
from modelreg_server.domain.datasets import RunRef
from modelreg_server.domain.names import project_name, run_name
from modelreg_server.domain.types import ModelVersion, NewModelVersion, ResolvedRef
from modelreg_server.storage import requests, versions
from modelreg_server.storage.recorded import record_request, request_values
from modelreg_server.storage.sql import Statement
from modelreg_server.storage.store import RawConn
from modelreg_server.storage.tables import (
    model_versions,
    models,
    projects,
    runs,
    version_data,
    version_labels,
    version_params,
)
from modelreg_server.storage.typed_rows import (
    json_text,
    param_copy,
    param_recordset,
    param_rows,
    refs_json,
    resolved_refs,
)


def version_values(
    spec: NewModelVersion,
    parent_id: int | None,
    created_by: str,
    *,
    data: Sequence[ResolvedRef] = (),
    run: tuple[int, str] | None = None,
) -> dict[str, Any]:
    """The columns a registration writes, by name: the one list of them. ``data``
    is the training data resolved (storage/dataset_refs.py), ``run`` the source
    run's row id and resource name."""
    return {
        "description": spec.description,
        "artifact_uri": spec.artifact.uri,
        "artifact_sha256": spec.artifact.sha256,
        "artifact_size": spec.artifact.size_bytes,
        "artifact_format": spec.artifact.format,
        "architecture": spec.architecture.name,
        "architecture_config": spec.architecture.config_json,
        "param_list": json_text(param_copy(spec.params)),
        "data_list": json_text([ref.read_copy() for ref in data]),
        "labels": json_text(dict(spec.labels)),
        "source_run": "" if run is None else run[1],
        "run_id": None if run is None else run[0],
        "code_repo": spec.code_version.repo,
        "code_commit": spec.code_version.commit,
        "code_dirty": spec.code_version.dirty,
        "parent_id": parent_id,
        "created_by": created_by,
    }


def _data_rows(data: Sequence[ResolvedRef]) -> str:
    """model_version_data rows: [dataset, version, batch_id, role, dataset version id]."""
    return json_text(
        [[ref.dataset, ref.version, ref.batch_id, ref.role.value, ref.id] for ref in data]
    )


# The columns the resolving statement computes from the references it resolves.
_RESOLVED_COLUMNS = ("data_list", "run_id")


def _data_list(resolved: CTE) -> Any:
    """The data_list read copy (``ResolvedRef.read_copy`` of each, in order) in SQL."""
    name = (
        literal("projects/", Text)
        + resolved.c.project
        + "/datasets/"
        + resolved.c.dataset
        + "/versions/"
        + resolved.c.version
    )
    return (
        select(
            func.coalesce(
                func.jsonb_agg(
                    aggregate_order_by(
                        func.jsonb_build_array(
                            resolved.c.dataset,
                            resolved.c.version,
                            resolved.c.batch_id,
                            resolved.c.role,
                            name,
                        ),
                        resolved.c.position,
                    )
                ),
                literal_column("'[]'::jsonb", JSONB),
                type_=JSONB,
            )
        )
        .select_from(resolved)
        .scalar_subquery()
    )


@functools.cache
def _statement(columns: tuple[str, ...], resolving: bool = False) -> Statement:
    """The registration statement. ``resolving``: it also resolves the references
    (training data ``refs`` and the source run ``run_project``/``run_name``) and
    writes nothing, returning no row, when one does not resolve (or the project is
    missing); ``data_list`` and ``run_id`` are then computed, not bound."""
    project = select(projects.c.id).where(projects.c.name == bindparam("project", type_=Text))
    computed: dict[str, Any] = {}
    if resolving:
        resolved = resolved_refs()
        rr, rrp = runs.alias("rr"), projects.alias("rrp")
        source = (
            select(rr.c.id)
            .join(rrp, rrp.c.id == rr.c.project_id)
            .where(
                rrp.c.name == bindparam("run_project", type_=Text),
                rr.c.name == bindparam("run_name", type_=Text),
            )
            .cte("source")
        )
        project = project.where(
            select(func.count()).select_from(resolved).scalar_subquery()
            == bindparam("ref_count", type_=BigInteger),
            select(func.count()).select_from(source).scalar_subquery()
            == bindparam("run_count", type_=BigInteger),
        )
        computed = {
            "data_list": _data_list(resolved),
            "run_id": select(source.c.id).scalar_subquery(),
        }
    p = project.cte("p")
    m = (
        pg_insert(models)
        .from_select(
            ["project_id", "name", "version_count"],
            select(p.c.id, bindparam("model", type_=Text), literal(1, BigInteger)),
        )
        .on_conflict_do_update(
            index_elements=[models.c.project_id, models.c.name],
            set_={
                "version_count": models.c.version_count + 1,
                "revision": models.c.revision + 1,
                "update_time": func.now(),
            },
        )
        .returning(models.c.id, models.c.version_count)
        .cte("m")
    )
    values: dict[str, Any] = {
        "model_id": m.c.id,
        "version": m.c.version_count,
        **{c: bindparam(c, type_=model_versions.c[c].type) for c in columns},
        **computed,
    }
    v = (
        insert(model_versions)
        .from_select(list(values), select(*values.values()))
        .returning(*model_versions.c)
        .cte("v")
    )
    x = param_recordset()
    params = insert(version_params).from_select(
        ["version_id", "key", "kind", "num_value", "text_value"],
        select(v.c.id, x.c.key, x.c.kind, x.c.num_value, x.c.text_value).select_from(
            v.join(x, true())
        ),
    )
    lb = (
        func.jsonb_each_text(bindparam("labels", type_=JSONB))
        .table_valued(column("key", Text), column("value", Text))
        .render_derived(name="lb")
    )
    labels = insert(version_labels).from_select(
        ["version_id", "key", "value"],
        select(v.c.id, lb.c.key, lb.c.value).select_from(v.join(lb, true())),
    )
    data_columns = ["version_id", "position", "dataset", "version", "batch_id", "role"]
    if resolving:
        data = insert(version_data).from_select(
            [*data_columns, "dataset_version_id"],
            select(
                v.c.id,
                resolved.c.position,
                resolved.c.dataset,
                resolved.c.version,
                resolved.c.batch_id,
                resolved.c.role,
                resolved.c.dataset_version_id,
            ).select_from(v.join(resolved, true())),
        )
    else:
        d = (
            func.jsonb_array_elements(bindparam("data_rows", type_=JSONB))
            .table_valued("value", with_ordinality="ord")
            .render_derived(name="d")
        )
        data = insert(version_data).from_select(
            [*data_columns, "dataset_version_id"],
            select(
                v.c.id,
                d.c.ord,
                *(d.c.value.op("->>")(literal_column(str(i))) for i in range(4)),
                sql_cast(d.c.value.op("->>")(literal_column("4")), BigInteger),
            ).select_from(v.join(d, true())),
        )
    registered = versions.read(v).cte("registered")
    stmt: Select[Any] = select(registered).add_cte(
        params.cte("params_rows"),
        labels.cte("label_rows"),
        data.cte("data_rows"),
        record_request(registered),
    )
    return Statement(stmt)


_TIMES = json_text(requests.time_keys(versions.READ))


async def create(
    conn: RawConn,
    project: str,
    model: str,
    spec: NewModelVersion,
    *,
    parent_id: int | None,
    created_by: str,
    request: requests.Key | None,
    data: Sequence[ResolvedRef] = (),
    run: tuple[int, str] | None = None,
) -> ModelVersion | None:
    """Insert a version and return its record. ``data`` and ``run`` are the
    version's references, resolved (see ``version_values``).

    Returns None when ``request``'s request_id is taken (the caller replays it).
    """
    columns = version_values(spec, parent_id, created_by, data=data, run=run)
    statement = _statement(tuple(columns))
    values: Mapping[str, Any] = {
        **columns,
        "project": project,
        "model": model,
        "params": json_text(param_rows(spec.params)),
        "data_rows": _data_rows(data),
        **request_values(request),
        "times": _TIMES,
    }
    try:
        row = await conn.fetchrow(statement.sql, *statement.args(values))
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == requests.KEY_CONSTRAINT:
            return None  # the request_id is taken: the caller replays it
        raise
    if row is None:
        raise errors.NotFound("project", project_name(project))
    return cast(ModelVersion, row)


class Unresolved(Exception):
    """``create_resolving`` wrote nothing: the project or a reference is missing."""


async def create_resolving(
    conn: RawConn,
    project: str,
    model: str,
    spec: NewModelVersion,
    *,
    created_by: str,
    request: requests.Key | None,
    run: RunRef | None,
) -> ModelVersion | None:
    """``create`` for a version with references (training data, source run) not yet
    resolved: the statement resolves them itself. Raises ``Unresolved`` when it
    wrote nothing (a reference or the project missing: the caller resolves them
    the slow way, which says which); None when the request_id is taken."""
    columns = version_values(spec, None, created_by)
    for name in _RESOLVED_COLUMNS:
        del columns[name]
    statement = _statement(tuple(columns), resolving=True)
    values: Mapping[str, Any] = {
        **columns,
        "source_run": "" if run is None else run_name(run.project, run.run),
        "project": project,
        "model": model,
        "params": json_text(param_rows(spec.params)),
        "refs": refs_json(project, spec.training_data, 1),
        "ref_count": len(spec.training_data),
        "run_project": None if run is None else run.project,
        "run_name": None if run is None else run.run,
        "run_count": 0 if run is None else 1,
        **request_values(request),
        "times": _TIMES,
    }
    try:
        row = await conn.fetchrow(statement.sql, *statement.args(values))
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == requests.KEY_CONSTRAINT:
            return None  # the request_id is taken: the caller replays it
        raise
    if row is None:
        raise Unresolved
    return cast(ModelVersion, row)
