"""Queries on model versions: reads, lists, label/description/state updates.

Registration lives in register.py, the filter fields in version_filters.py."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    RowMapping,
    Select,
    bindparam,
    delete,
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
)
from modelreg_server.storage.tables import (
    model_versions as mv,
)
from modelreg_server.storage.version_filters import VERSION_FIELDS

LATEST = "latest"


def decode_param(kind: str, text_value: str) -> ParamValue:
    if kind == "int":
        return int(text_value)
    if kind == "float":
        return float(text_value)
    if kind == "bool":
        return text_value == "true"
    return text_value


def _agg(expr: Any, where: ColumnElement[bool], empty: str, type_: Any = JSONB) -> Any:
    return (
        select(func.coalesce(expr, literal_column(empty, type_=type_)))
        .where(where)
        .scalar_subquery()
    )


# What a ModelVersion is built from (not the ids, request key or counters).
_READ_COLUMNS = (
    "version", "state", "description", "artifact_uri", "artifact_sha256", "artifact_size",
    "artifact_format", "architecture", "architecture_config", "param_list", "data_list",
    "labels", "source_run", "code_repo", "code_commit", "code_dirty", "created_by",
    "revision", "create_time", "update_time",
)  # fmt: skip


def _build_select() -> Select[Any]:
    pv = mv.alias("pv")
    pm = models.alias("pm")
    pp = projects.alias("pp")
    return select(
        *(mv.c[name] for name in _READ_COLUMNS),
        models.c.name.label("model_name"),
        projects.c.name.label("project_name"),
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
        labels=dict(row["labels"]),
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
            _SELECT.where(
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
    return _version((await conn.execute(_SELECT.where(mv.c.id == version_id))).one()._mapping)


async def update(
    conn: Conn, version_id: int, values: Mapping[str, Any], labels: Mapping[str, str] | None
) -> None:
    if labels is not None:
        values = {**values, "labels": dict(labels)}
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
        _SELECT.where(*where),
        keys,
        desc,
        q,
        lambda r: [r._mapping[order], r.version],
        lambda r: _version(r._mapping),
        project,
        model,
        show_deleted,
    )
