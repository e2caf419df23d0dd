"""Queries on pipelines and their runs: the read statement of a run with its
steps, create, get, lock, the row-level changes, and pages of runs and of
pipelines. A step's own rows are pipeline_steps.py's.

A run record carries its steps as JSON built in SQL (one statement per read),
with each step's references; a reference to a resource deleted since is left
out, and a dataset version with a batch id is reported as a BATCH."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Select,
    Text,
    and_,
    case,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import JSON, aggregate_order_by
from sqlalchemy.dialects.postgresql import insert as pg_insert

from modelreg_server.domain import errors
from modelreg_server.domain.pipelines import (
    NewPipelineRun,
    Pipeline,
    PipelineRun,
    PipelineRunState,
    pipeline_name,
    pipeline_run_name,
)
from modelreg_server.domain.types import ListQuery, Page
from modelreg_server.storage import filters, ids, pagination
from modelreg_server.storage import projects as project_q
from modelreg_server.storage.runs import micros
from modelreg_server.storage.store import Conn
from modelreg_server.storage.tables import (
    dataset_versions,
    deployments,
    evaluations,
    model_versions,
    pipeline_runs,
    pipeline_step_refs,
    pipeline_steps,
    pipelines,
    projects,
    runs,
)
from modelreg_server.storage.typed_rows import param_copy

# The id counter of server-made run ids, per pipeline.
ID_KIND = "pipeline_run"
ORDER_BY = ("start_time", "run_id")
_ORDER_KEYS = {
    "start_time": (pipeline_runs.c.start_time, pipeline_runs.c.id),
    "run_id": (pipeline_runs.c.name, pipeline_runs.c.id),
}


def _state_filter(key: str, op: str, value: filters.Value) -> ColumnElement[bool]:
    state = filters.coerce(value, "str", "state")
    if state not in {s.value for s in PipelineRunState} or op not in ("=", "!="):
        raise errors.InvalidArgument(
            "filter", "state: compare with = or != to RUNNING, SUCCEEDED, FAILED or CANCELLED"
        )
    return filters.OPS[op](pipeline_runs.c.state, state)  # type: ignore[no-any-return]


FIELDS: Mapping[str, filters.FieldCompiler] = {
    "pipeline": filters.column(pipelines.c.name, "str"),
    "run_id": filters.column(pipeline_runs.c.name, "str"),
    "definition_version": filters.column(pipeline_runs.c.definition_version, "str"),
    "state": _state_filter,
    "start_time": filters.column(pipeline_runs.c.start_time, "time"),
    "end_time": filters.column(pipeline_runs.c.end_time, "time"),
    "created_by": filters.column(pipeline_runs.c.created_by, "str"),
    "labels.": filters.json_labels(pipeline_runs.c.labels),
}

# The table each reference kind points into.
TARGETS = {
    "DATASET_VERSION": dataset_versions,
    "RUN": runs,
    "MODEL_VERSION": model_versions,
    "EVALUATION": evaluations,
    "DEPLOYMENT": deployments,
}
_EMPTY = literal_column("'[]'::json", JSON)


def _refs(step_id: Any, direction: str) -> Any:
    """A step's references of one direction that still exist: [[name, kind, role]]."""
    r = pipeline_step_refs.alias("r")
    dv = dataset_versions.alias("rdv")
    batch = select(dv.c.batch_id).where(dv.c.id == r.c.target_id).scalar_subquery()
    kind = case(
        (and_(r.c.kind == "DATASET_VERSION", batch != ""), literal("BATCH", Text)), else_=r.c.kind
    )
    alive = or_(
        *(and_(r.c.kind == k, exists().where(t.c.id == r.c.target_id)) for k, t in TARGETS.items())
    )
    items = func.json_agg(
        aggregate_order_by(func.json_build_array(r.c.name, kind, r.c.role), r.c.position),
        type_=JSON,
    )
    return (
        select(func.coalesce(items, _EMPTY, type_=JSON))
        .where(r.c.step_id == step_id, r.c.direction == direction, alive)
        .scalar_subquery()
    )


def _steps(run_id: Any) -> Any:
    s = pipeline_steps
    step = func.json_build_object(
        "step_id", s.c.name, "position", s.c.position, "state", s.c.state,
        "start_us", micros(s.c.start_time), "end_us", micros(s.c.end_time),
        "param_list", s.c.param_list, "error", s.c.error, "update_us", micros(s.c.update_time),
        "inputs", _refs(s.c.id, "INPUT"), "outputs", _refs(s.c.id, "OUTPUT"),
    )  # fmt: skip
    items = func.json_agg(aggregate_order_by(step, s.c.position), type_=JSON)
    return (
        select(func.coalesce(items, _EMPTY, type_=JSON))
        .where(s.c.pipeline_run_id == run_id)
        .scalar_subquery()
    )


# What a PipelineRun record is: the row, its project's and pipeline's names, its steps.
READ = select(
    *pipeline_runs.c,
    projects.c.name.label("project_name"),
    pipelines.c.name.label("pipeline_name"),
    _steps(pipeline_runs.c.id).label("steps"),
).select_from(
    pipeline_runs.join(pipelines, pipelines.c.id == pipeline_runs.c.pipeline_id).join(
        projects, projects.c.id == pipeline_runs.c.project_id
    )
)


def _latest_run() -> Any:
    r = pipeline_runs.alias("lr")
    return (
        select(r.c.name)
        .where(r.c.pipeline_id == pipelines.c.id)
        .order_by(r.c.start_time.desc(), r.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )


# What a Pipeline record is: the row, its project's name and its newest run's id.
READ_PIPELINES = select(
    *pipelines.c, projects.c.name.label("project_name"), _latest_run().label("latest_run")
).select_from(pipelines.join(projects, projects.c.id == pipelines.c.project_id))


def _named(project: str, pipeline: str, run: str) -> Select[Any]:
    return READ.where(
        projects.c.name == project, pipelines.c.name == pipeline, pipeline_runs.c.name == run
    )


async def not_found(conn: Conn, project: str, pipeline: str, run: str) -> errors.NotFound:
    """NotFound for the project when that is what is missing, else for the run."""
    await project_q.id_of(conn, project)
    return errors.NotFound("pipeline run", pipeline_run_name(project, pipeline, run))


async def get(conn: Conn, project: str, pipeline: str, run: str) -> PipelineRun:
    row = (await conn.execute(_named(project, pipeline, run))).first()
    if row is None:
        raise await not_found(conn, project, pipeline, run)
    return cast(PipelineRun, row._mapping)


async def get_by_id(conn: Conn, run_id: int) -> PipelineRun:
    row = (await conn.execute(READ.where(pipeline_runs.c.id == run_id))).one()
    return cast(PipelineRun, row._mapping)


async def lock(conn: Conn, project: str, pipeline: str, run: str) -> Any:
    """Lock one run row against other changes: its id, revision, state, end_time, error."""
    pr = pipeline_runs
    query = (
        select(pr.c.id, pr.c.revision, pr.c.state, pr.c.end_time, pr.c.error)
        .join(pipelines, pipelines.c.id == pr.c.pipeline_id)
        .join(projects, projects.c.id == pr.c.project_id)
        .where(projects.c.name == project, pipelines.c.name == pipeline, pr.c.name == run)
        .with_for_update(of=pr)
    )
    row = (await conn.execute(query)).first()
    if row is None:
        raise await not_found(conn, project, pipeline, run)
    return row


async def update_(conn: Conn, run_id: int, values: Mapping[str, Any]) -> None:
    """Change the run row (a new revision, etag and update time)."""
    await conn.execute(
        pipeline_runs.update()
        .where(pipeline_runs.c.id == run_id)
        .values(**values, revision=pipeline_runs.c.revision + 1, update_time=func.now())
    )


async def create(
    conn: Conn,
    project: str,
    project_id: int,
    pipeline: str,
    given: str,
    spec: NewPipelineRun,
    *,
    created_by: str,
) -> int:
    """Insert a run named ``given`` (``run_001``... when empty) into the pipeline,
    made with its first run: the run's row id."""
    pl = pipelines
    upsert = pg_insert(pl).values(project_id=project_id, name=pipeline, run_count=1)
    pipeline_id = await conn.scalar(
        upsert.on_conflict_do_update(
            index_elements=[pl.c.project_id, pl.c.name],
            set_={"run_count": pl.c.run_count + 1, "update_time": func.now()},
        ).returning(pl.c.id)
    )
    assert pipeline_id is not None
    values = {
        "pipeline_id": pipeline_id,
        "project_id": project_id,
        "definition_version": spec.definition_version,
        "param_list": param_copy(spec.params),
        "labels": dict(spec.labels),
        "description": spec.description,
        "created_by": created_by,
    }

    async def insert_row(name: str) -> int | None:
        found = await conn.scalar(
            pg_insert(pipeline_runs)
            .values(**values, name=name)
            .on_conflict_do_nothing(
                index_elements=[pipeline_runs.c.pipeline_id, pipeline_runs.c.name]
            )
            .returning(pipeline_runs.c.id)
        )
        return None if found is None else int(found)

    row_id, _ = await ids.insert_named(
        conn,
        kind=ID_KIND,
        parent_id=int(pipeline_id),
        given=given,
        spell=lambda n: f"run_{n:03d}",
        insert_row=insert_row,
        taken=lambda name: errors.AlreadyExists(
            "pipeline run", pipeline_run_name(project, pipeline, name)
        ),
    )
    return row_id


# Pages


async def list_runs(
    conn: Conn, project: str, pipeline: str, q: ListQuery, tokens: pagination.PageTokens
) -> Page[PipelineRun]:
    """A page of the runs of ``pipeline`` (``-``: of every pipeline of the project)."""
    order, desc = pagination.parse_order_by(q.order_by, ORDER_BY, "start_time")
    project_id = await project_q.id_of(conn, project)
    query = READ.where(
        pipeline_runs.c.project_id == project_id, filters.compile_filter(q.filter, FIELDS)
    )
    if pipeline != "-":
        found = await conn.scalar(
            select(pipelines.c.id).where(
                pipelines.c.project_id == project_id, pipelines.c.name == pipeline
            )
        )
        if found is None:
            raise errors.NotFound("pipeline", pipeline_name(project, pipeline))
        query = query.where(pipeline_runs.c.pipeline_id == found)
    keys = list(_ORDER_KEYS[order])
    page = await pagination.fetch_page(conn, query, keys, desc, q, tokens, project, pipeline)
    return cast(Page[PipelineRun], page)


async def list_pipelines(
    conn: Conn, project: str, q: ListQuery, tokens: pagination.PageTokens
) -> Page[Pipeline]:
    project_id = await project_q.id_of(conn, project)
    query = READ_PIPELINES.where(pipelines.c.project_id == project_id)
    page = await pagination.fetch_page(conn, query, [pipelines.c.name], False, q, tokens, project)
    return cast(Page[Pipeline], page)
