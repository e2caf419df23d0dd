"""Queries on model versions.

Registering a version is one SQL statement (data-modifying CTEs): it creates the
model if missing, increments the model's counter under its row lock, inserts the
version with its params, labels and data references, and commits as a unit.
No MAX()+1, no gap on failure: a failed statement rolls back the counter too."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg
from sqlalchemy import (
    ColumnElement,
    RowMapping,
    Select,
    bindparam,
    delete,
    exists,
    func,
    literal_column,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, aggregate_order_by
from sqlalchemy.types import BigInteger, Text

from modelreg_server.domain import errors
from modelreg_server.domain.types import (
    Architecture,
    Artifact,
    CodeVersion,
    DataRef,
    DataRole,
    ListQuery,
    ModelVersion,
    NewModelVersion,
    Page,
    ParamValue,
    VersionRef,
    VersionState,
)
from modelreg_server.storage import filters, pagination
from modelreg_server.storage import projects as project_queries
from modelreg_server.storage.store import Conn, RawConn, Statement, raw
from modelreg_server.storage.tables import (
    aliases,
    models,
    projects,
    version_labels,
    version_params,
)
from modelreg_server.storage.tables import (
    model_versions as mv,
)

LATEST = "latest"
REQUEST_ID_CONSTRAINT = "uq_model_versions_model_id_request_id"

_CREATE = Statement(
    """
WITH p AS (SELECT id FROM projects WHERE name = :project),
m AS (
    INSERT INTO models AS mo (project_id, name, version_count)
    SELECT p.id, :model, 1 FROM p
    ON CONFLICT (project_id, name) DO UPDATE
        SET version_count = mo.version_count + 1,
            revision = mo.revision + 1,
            update_time = now()
    RETURNING mo.id, mo.version_count
),
v AS (
    INSERT INTO model_versions (
        model_id, version, description, artifact_uri, artifact_sha256, artifact_size,
        artifact_format, architecture, architecture_config, param_list, data_list,
        source_run, code_repo, code_commit, code_dirty, parent_id, created_by, request_id,
        request_hash)
    SELECT m.id, m.version_count, :description, :artifact_uri, :artifact_sha256,
        :artifact_size, :artifact_format, :architecture, CAST(:architecture_config AS jsonb),
        CAST(:param_list AS jsonb), CAST(:data AS jsonb), :source_run, :code_repo,
        :code_commit, :code_dirty, :parent_id, :created_by, :request_id, :request_hash
    FROM m
    RETURNING id, version, create_time
),
pa AS (
    INSERT INTO model_version_params (version_id, key, kind, num_value, text_value)
    SELECT v.id, x.key, x.kind, x.num_value, x.text_value
    FROM v, jsonb_to_recordset(CAST(:params AS jsonb))
        AS x(key text, kind text, num_value float8, text_value text)
),
la AS (
    INSERT INTO model_version_labels (version_id, key, value)
    SELECT v.id, x.key, x.value FROM v, jsonb_each_text(CAST(:labels AS jsonb)) AS x
),
da AS (
    INSERT INTO model_version_data (version_id, position, dataset, version, batch_id, role)
    SELECT v.id, x.ord, x.r->>0, x.r->>1, x.r->>2, x.r->>3
    FROM v, jsonb_array_elements(CAST(:data AS jsonb)) WITH ORDINALITY AS x(r, ord)
)
SELECT id, version, create_time FROM v
"""
)


def encode_param(value: ParamValue) -> tuple[str, float | None, str]:
    """(kind, numeric value, exact text) of a typed param."""
    if isinstance(value, bool):
        return "bool", float(value), "true" if value else "false"
    if isinstance(value, int):
        return "int", float(value), str(value)
    if isinstance(value, float):
        return "float", value, repr(value)
    return "str", None, value


def decode_param(kind: str, text_value: str) -> ParamValue:
    if kind == "int":
        return int(text_value)
    if kind == "float":
        return float(text_value)
    if kind == "bool":
        return text_value == "true"
    return text_value


async def create(
    conn: RawConn,
    project: str,
    model: str,
    spec: NewModelVersion,
    *,
    parent: tuple[int, int] | None,
    created_by: str,
    request_id: str | None,
    request_hash: str | None,
) -> ModelVersion | None:
    """Insert a version; None means the request_id was already used for this model.

    ``parent`` is (row id, version number) of the resolved parent version.
    """
    params = [
        dict(zip(("key", "kind", "num_value", "text_value"), (k, *encode_param(v)), strict=True))
        for k, v in spec.params.items()
    ]
    data = [[d.dataset, d.version, d.batch_id, d.role.value] for d in spec.training_data]
    values = {
        "project": project,
        "model": model,
        "description": spec.description,
        "artifact_uri": spec.artifact.uri,
        "artifact_sha256": spec.artifact.sha256,
        "artifact_size": spec.artifact.size_bytes,
        "artifact_format": spec.artifact.format,
        "architecture": spec.architecture.name,
        "architecture_config": json.dumps(spec.architecture.config),
        "source_run": spec.source_run,
        "code_repo": spec.code_version.repo,
        "code_commit": spec.code_version.commit,
        "code_dirty": spec.code_version.dirty,
        "parent_id": parent[0] if parent else None,
        "created_by": created_by,
        "request_id": request_id,
        "request_hash": request_hash,
        "params": json.dumps(params),
        "param_list": json.dumps([[p["key"], p["kind"], p["text_value"]] for p in params]),
        "labels": json.dumps(dict(spec.labels)),
        "data": json.dumps(data),
    }
    try:
        row = await conn.fetchrow(_CREATE.sql, *_CREATE.args(values))
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == REQUEST_ID_CONSTRAINT:
            return None
        raise
    if row is None:
        raise errors.NotFound("project", f"projects/{project}")
    parent_ref = None
    if spec.parent is not None and parent is not None:
        parent_ref = VersionRef(spec.parent.project, spec.parent.model, str(parent[1]))
    return ModelVersion(
        project=project,
        model=model,
        version=row["version"],
        artifact=spec.artifact,
        architecture=spec.architecture,
        params=dict(spec.params),
        training_data=tuple(spec.training_data),
        source_run=spec.source_run,
        code_version=spec.code_version,
        parent=parent_ref,
        labels=dict(spec.labels),
        description=spec.description,
        state=VersionState.READY,
        created_by=created_by,
        create_time=row["create_time"],
        update_time=row["create_time"],
        etag=project_queries.etag(1),
        aliases=(),
    )


def _agg(expr: Any, where: ColumnElement[bool], empty: str, type_: Any = JSONB) -> Any:
    return (
        select(func.coalesce(expr, literal_column(empty, type_=type_)))
        .where(where)
        .scalar_subquery()
    )


def _build_select() -> Select[Any]:
    pv = mv.alias("pv")
    pm = models.alias("pm")
    pp = projects.alias("pp")
    vl = version_labels
    return select(
        *mv.c,
        models.c.name.label("model_name"),
        projects.c.name.label("project_name"),
        _agg(
            func.jsonb_object_agg(vl.c.key, vl.c.value), vl.c.version_id == mv.c.id, "'{}'::jsonb"
        ).label("label_map"),
        _agg(
            func.array_agg(aggregate_order_by(aliases.c.alias, aliases.c.alias)),
            aliases.c.version_id == mv.c.id,
            "'{}'::text[]",
            ARRAY(Text),
        ).label("alias_names"),
        pv.c.version.label("parent_version"),
        pm.c.name.label("parent_model"),
        pp.c.name.label("parent_project"),
    ).select_from(
        mv.join(models, models.c.id == mv.c.model_id)
        .join(projects, projects.c.id == models.c.project_id)
        .outerjoin(pv, pv.c.id == mv.c.parent_id)
        .outerjoin(pm, pm.c.id == pv.c.model_id)
        .outerjoin(pp, pp.c.id == pm.c.project_id)
    )


# Built once: statements are immutable, and building this one costs more than running it.
_SELECT = _build_select()


def _select() -> Select[Any]:
    return _SELECT


def _version(row: Mapping[str, Any] | RowMapping) -> ModelVersion:
    """From a row of ``_SELECT``: an asyncpg Record or a SQLAlchemy row mapping."""
    parent = None
    if row["parent_version"] is not None:
        parent = VersionRef(row["parent_project"], row["parent_model"], str(row["parent_version"]))
    return ModelVersion(
        project=row["project_name"],
        model=row["model_name"],
        version=row["version"],
        artifact=Artifact(
            uri=row["artifact_uri"],
            sha256=row["artifact_sha256"],
            size_bytes=row["artifact_size"],
            format=row["artifact_format"],
        ),
        architecture=Architecture(name=row["architecture"], config=row["architecture_config"]),
        params={k: decode_param(kind, t) for k, kind, t in row["param_list"]},
        training_data=tuple(
            DataRef(dataset=d, version=v, batch_id=b, role=DataRole(r))
            for d, v, b, r in row["data_list"]
        ),
        source_run=row["source_run"],
        code_version=CodeVersion(
            repo=row["code_repo"], commit=row["code_commit"], dirty=row["code_dirty"]
        ),
        parent=parent,
        labels=dict(row["label_map"]),
        description=row["description"],
        state=VersionState(row["state"]),
        created_by=row["created_by"],
        create_time=row["create_time"],
        update_time=row["update_time"],
        etag=project_queries.etag(row["revision"]),
        aliases=tuple(row["alias_names"]),
    )


def _selector_kind(selector: str) -> str:
    if selector.isdigit():
        return "number"
    return "latest" if selector == LATEST else "alias"


def _ref_clause(query: Select[Any], kind: str) -> Select[Any]:
    """``query`` narrowed to one version by bind parameters project, model and number/alias."""
    query = query.where(
        projects.c.name == bindparam("project", type_=Text),
        models.c.name == bindparam("model", type_=Text),
    )
    if kind == "number":
        return query.where(mv.c.version == bindparam("number", type_=BigInteger))
    if kind == "latest":
        return (
            query.where(mv.c.state == VersionState.READY.value)
            .order_by(mv.c.version.desc())
            .limit(1)
        )
    alias_target = (
        select(aliases.c.version_id)
        .where(aliases.c.model_id == models.c.id, aliases.c.alias == bindparam("alias", type_=Text))
        .scalar_subquery()
    )
    return query.where(mv.c.id == alias_target)


def _ref_values(ref: VersionRef) -> dict[str, Any]:
    values: dict[str, Any] = {"project": ref.project, "model": ref.model}
    kind = _selector_kind(ref.selector)
    if kind == "number":
        values["number"] = int(ref.selector)
    elif kind == "alias":
        values["alias"] = ref.selector
    return values


def _where_ref(query: Select[Any], ref: VersionRef) -> Select[Any]:
    return _ref_clause(query, _selector_kind(ref.selector)).params(_ref_values(ref))


# The hot read: one version by number, alias or latest, as one prepared statement.
_GET = {kind: Statement(_ref_clause(_SELECT, kind)) for kind in ("number", "latest", "alias")}


async def not_found(conn: Conn, ref: VersionRef) -> errors.NotFound:
    """The most precise NotFound for a missing version: project, model or version."""
    await project_queries.model_id(conn, ref.project, ref.model)  # raises for project/model
    kind = "version" if ref.selector.isdigit() else "alias"
    name = f"projects/{ref.project}/models/{ref.model}/versions/{ref.selector}"
    return errors.NotFound(kind, name)


async def fetch(conn: RawConn, ref: VersionRef) -> ModelVersion | None:
    """One version by number, alias or latest on a raw connection; None if absent."""
    statement = _GET[_selector_kind(ref.selector)]
    row = await conn.fetchrow(statement.sql, *statement.args(_ref_values(ref)))
    return None if row is None else _version(row)


async def get(conn: Conn, ref: VersionRef) -> ModelVersion:
    found = await fetch(await raw(conn), ref)
    if found is None:
        raise await not_found(conn, ref)
    return found


async def get_by_request_id(conn: Conn, project: str, model: str, request_id: str) -> ModelVersion:
    """The version an earlier call with this request_id made, for replay."""
    row = (
        await conn.execute(
            _select().where(
                projects.c.name == project, models.c.name == model, mv.c.request_id == request_id
            )
        )
    ).one()
    return _version(row._mapping)


async def request_hash(conn: Conn, project: str, model: str, request_id: str) -> str | None:
    return await conn.scalar(
        select(mv.c.request_hash)
        .join(models, models.c.id == mv.c.model_id)
        .join(projects, projects.c.id == models.c.project_id)
        .where(projects.c.name == project, models.c.name == model, mv.c.request_id == request_id)
    )


async def lock(conn: Conn, ref: VersionRef) -> tuple[int, int, int, str]:
    """Lock one version row: (row id, version number, revision, state)."""
    query = _where_ref(
        select(mv.c.id, mv.c.version, mv.c.revision, mv.c.state)
        .join(models, models.c.id == mv.c.model_id)
        .join(projects, projects.c.id == models.c.project_id),
        ref,
    ).with_for_update(of=mv)
    row = (await conn.execute(query)).first()
    if row is None:
        raise await not_found(conn, ref)
    return row.id, row.version, row.revision, row.state


async def resolve_id(conn: Conn, ref: VersionRef) -> tuple[int, int, str]:
    """(row id, version number, state) of a version, by number, alias or latest."""
    query = _where_ref(
        select(mv.c.id, mv.c.version, mv.c.state)
        .join(models, models.c.id == mv.c.model_id)
        .join(projects, projects.c.id == models.c.project_id),
        ref,
    )
    row = (await conn.execute(query)).first()
    if row is None:
        raise await not_found(conn, ref)
    return row.id, row.version, row.state


async def get_by_id(conn: Conn, version_id: int) -> ModelVersion:
    return _version((await conn.execute(_select().where(mv.c.id == version_id))).one()._mapping)


async def update(
    conn: Conn, version_id: int, values: Mapping[str, Any], labels: Mapping[str, str] | None
) -> None:
    await conn.execute(
        mv.update()
        .where(mv.c.id == version_id)
        .values(**values, revision=mv.c.revision + 1, update_time=func.now())
    )
    if labels is not None:
        await conn.execute(delete(version_labels).where(version_labels.c.version_id == version_id))
        if labels:
            await conn.execute(
                version_labels.insert(),
                [{"version_id": version_id, "key": k, "value": v} for k, v in labels.items()],
            )


async def set_state(conn: Conn, version_id: int, state: VersionState) -> None:
    await update(conn, version_id, {"state": state.value}, None)


async def aliases_of(conn: Conn, version_id: int) -> Sequence[str]:
    rows = await conn.execute(
        select(aliases.c.alias).where(aliases.c.version_id == version_id).order_by(aliases.c.alias)
    )
    return [r.alias for r in rows]


def _param_filter(key: str, op: str, value: filters.Value) -> ColumnElement[bool]:
    vp = version_params
    base = [vp.c.version_id == mv.c.id, vp.c.key == key]
    test_op = "=" if op == "!=" else op
    cmp = filters.OPS[test_op]
    if isinstance(value, bool):
        cond = (vp.c.kind == "bool") & cmp(vp.c.num_value, float(value))
    elif isinstance(value, int | float):
        if not math.isfinite(value):
            raise errors.InvalidArgument("filter", f"params.{key}: value must be finite")
        cond = vp.c.kind.in_(("int", "float")) & cmp(vp.c.num_value, value)
    else:
        cond = (vp.c.kind == "str") & cmp(vp.c.text_value, value)
    clause = exists().where(*base, cond)
    return ~clause if op == "!=" else clause


def _label_filter(key: str, op: str, value: filters.Value) -> ColumnElement[bool]:
    vl = version_labels
    text_value = filters.coerce(value, "str", f"labels.{key}")
    test_op = "=" if op == "!=" else op
    clause = exists().where(
        vl.c.version_id == mv.c.id, vl.c.key == key, filters.OPS[test_op](vl.c.value, text_value)
    )
    return ~clause if op == "!=" else clause


def _state_filter(key: str, op: str, value: filters.Value) -> ColumnElement[bool]:
    state = filters.coerce(value, "str", "state")
    if state not in {s.value for s in VersionState} or op not in ("=", "!="):
        raise errors.InvalidArgument(
            "filter", "state: compare with = or != to READY, ARCHIVED or DELETED"
        )
    return filters.OPS[op](mv.c.state, state)  # type: ignore[no-any-return]


VERSION_FIELDS: Mapping[str, filters.FieldCompiler] = {
    "version": filters.column(mv.c.version, "int"),
    "state": _state_filter,
    "create_time": filters.column(mv.c.create_time, "time"),
    "update_time": filters.column(mv.c.update_time, "time"),
    "created_by": filters.column(mv.c.created_by, "str"),
    "architecture": filters.column(mv.c.architecture, "str"),
    "source_run": filters.column(mv.c.source_run, "str"),
    "artifact_format": filters.column(mv.c.artifact_format, "str"),
    "params.": _param_filter,
    "labels.": _label_filter,
}


async def list_(
    conn: Conn, project: str, model: str, q: ListQuery, *, show_deleted: bool
) -> Page[ModelVersion]:
    order, desc = pagination.parse_order_by(q.order_by, ("version", "create_time"), "version")
    mid = await project_queries.model_id(conn, project, model)
    where = [mv.c.model_id == mid, filters.compile_filter(q.filter, VERSION_FIELDS)]
    if not show_deleted:
        where.append(mv.c.state != VersionState.DELETED.value)
    keys = [mv.c[order], mv.c.version]
    return await pagination.fetch_page(
        conn,
        _select().where(*where),
        keys,
        desc,
        q,
        lambda r: [r._mapping[order], r.version],
        lambda r: _version(r._mapping),
        project,
        model,
        show_deleted,
    )
