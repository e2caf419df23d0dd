"""Queries on deployments and their append-only history.

Every change of a deployment's traffic, state or environment appends a
deployment_events row holding the deployment's traffic, state and environment
after it, in the transaction that changes the row. The row's ``update_time`` and
the event's ``event_time`` are one value, read from the clock after the row is
locked: events of one deployment are in time order as in id order, and a time a
change returned is a ``read_time`` that sees that change."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import BigInteger, func, select, text
from sqlalchemy.exc import IntegrityError

from modelreg_server.domain import errors
from modelreg_server.domain.deployments import (
    Deployment,
    DeploymentEvent,
    DeploymentEventKind,
    NewDeployment,
    deployment_name,
)
from modelreg_server.domain.types import ListQuery, Page
from modelreg_server.storage import pagination
from modelreg_server.storage import projects as project_q
from modelreg_server.storage.store import Conn
from modelreg_server.storage.tables import deployment_events, deployments, model_versions, models
from modelreg_server.storage.tables import projects as projects_t

UNIQUE_NAME = "uq_deployments_project_id_name"

# What a Deployment record is: the row and the names of its project and model.
READ = (
    select(
        *deployments.c,
        projects_t.c.name.label("project_name"),
        models.c.name.label("model_name"),
    )
    .join(projects_t, projects_t.c.id == deployments.c.project_id)
    .join(models, models.c.id == deployments.c.model_id)
)
# What a DeploymentEvent record is: the row.
READ_EVENTS = select(deployment_events)


async def not_found(conn: Conn, project: str, name: str) -> errors.NotFound:
    """NotFound for the project when that is what is missing, else for the deployment."""
    await project_q.id_of(conn, project)
    return errors.NotFound("deployment", deployment_name(project, name))


async def get(conn: Conn, project: str, name: str, *, for_update: bool = False) -> Deployment:
    """The deployment (locked against other changes with ``for_update``)."""
    query = READ.where(projects_t.c.name == project, deployments.c.name == name)
    if for_update:
        query = query.with_for_update(of=deployments)
    row = (await conn.execute(query)).first()
    if row is None:
        raise await not_found(conn, project, name)
    return cast(Deployment, row._mapping)


async def get_by_id(conn: Conn, deployment_id: int) -> Deployment:
    row = (await conn.execute(READ.where(deployments.c.id == deployment_id))).one()
    return cast(Deployment, row._mapping)


async def version_states(conn: Conn, model_id: int, numbers: Iterable[int]) -> dict[int, str]:
    """The state of each of ``numbers`` that is a version of the model, locked against
    a change of state (a version being deleted) until the transaction ends."""
    rows = await conn.execute(
        select(model_versions.c.version, model_versions.c.state)
        .where(model_versions.c.model_id == model_id, model_versions.c.version.in_(list(numbers)))
        .with_for_update(read=True)
    )
    return {r.version: r.state for r in rows}


async def clock(conn: Conn) -> datetime:
    """The time of a change: the clock now, not the transaction's start (``now()``),
    which may be earlier than the change a waited-for lock let through first."""
    t = await conn.scalar(select(func.clock_timestamp()))
    assert isinstance(t, datetime)
    return t


async def create(
    conn: Conn,
    project: str,
    project_id: int,
    model_id: int,
    name: str,
    spec: NewDeployment,
    traffic: list[list[int]],
    *,
    actor: str,
    reason: str,
) -> int:
    """Insert the deployment and its CREATE event: its row id."""
    t = await clock(conn)
    try:
        did = await conn.scalar(
            deployments.insert()
            .values(
                project_id=project_id,
                model_id=model_id,
                name=name,
                environment=spec.environment,
                state=spec.state.value,
                traffic=traffic,
                description=spec.description,
                labels=dict(spec.labels),
                created_by=actor,
                updated_by=actor,
                create_time=t,
                update_time=t,
            )
            .returning(deployments.c.id)
        )
    except IntegrityError as exc:
        if UNIQUE_NAME in str(exc.orig):
            raise errors.AlreadyExists("deployment", deployment_name(project, name)) from exc
        raise
    await add_events(
        conn,
        int(did),
        [DeploymentEventKind.CREATE],
        traffic=traffic,
        state=spec.state.value,
        environment=spec.environment,
        actor=actor,
        reason=reason,
        at=t,
    )
    return int(did)


async def update_(
    conn: Conn, deployment_id: int, values: Mapping[str, Any], *, actor: str
) -> datetime:
    """Change the row (a new revision): the time of the change."""
    t = await clock(conn)
    await conn.execute(
        deployments.update()
        .where(deployments.c.id == deployment_id)
        .values(**values, revision=deployments.c.revision + 1, update_time=t, updated_by=actor)
    )
    return t


async def add_events(
    conn: Conn,
    deployment_id: int,
    kinds: Sequence[DeploymentEventKind],
    *,
    traffic: list[list[int]],
    state: str,
    environment: str,
    actor: str,
    reason: str,
    at: datetime,
) -> None:
    """Append one event per kind, each with the deployment as it is after the change."""
    if not kinds:
        return
    await conn.execute(
        deployment_events.insert(),
        [
            {
                "deployment_id": deployment_id,
                "kind": kind.value,
                "traffic": traffic,
                "state": state,
                "environment": environment,
                "actor": actor,
                "reason": reason,
                "event_time": at,
            }
            for kind in kinds
        ],
    )


async def last_event_at(conn: Conn, deployment_id: int, t: datetime) -> DeploymentEvent | None:
    """The deployment's last event at or before ``t``: its state then."""
    row = (
        await conn.execute(
            READ_EVENTS.where(
                deployment_events.c.deployment_id == deployment_id,
                deployment_events.c.event_time <= t,
            )
            .order_by(deployment_events.c.id.desc())
            .limit(1)
        )
    ).first()
    return None if row is None else cast(DeploymentEvent, row._mapping)


async def list_(
    conn: Conn,
    project: str,
    project_id: int,
    model: str,
    q: ListQuery,
    tokens: pagination.PageTokens,
) -> Page[Deployment]:
    query = READ.where(deployments.c.project_id == project_id)
    if model:
        query = query.where(models.c.name == model)
    found = await pagination.fetch_page(
        conn, query, [deployments.c.name], False, q, tokens, project, model
    )
    return cast(Page[Deployment], found)


async def history(
    conn: Conn, deployment_id: int, q: ListQuery, tokens: pagination.PageTokens
) -> Page[DeploymentEvent]:
    query = READ_EVENTS.where(deployment_events.c.deployment_id == deployment_id)
    found = await pagination.fetch_page(
        conn, query, [deployment_events.c.id], True, q, tokens, "deployment", deployment_id
    )
    return cast(Page[DeploymentEvent], found)


async def serving(conn: Conn, version_id: int) -> Sequence[str]:
    """The deployments (not RETIRED) whose traffic split gives the version a share."""
    rows = await conn.execute(
        select(deployments.c.name)
        .join(model_versions, model_versions.c.model_id == deployments.c.model_id)
        .where(
            model_versions.c.id == version_id,
            deployments.c.state != "RETIRED",
            select(func.jsonb_array_elements(deployments.c.traffic).column_valued("share"))
            .where(
                func.jsonb_extract_path_text(text("share"), "0").cast(BigInteger)
                == model_versions.c.version
            )
            .exists(),
        )
        .order_by(deployments.c.name)
    )
    return [r.name for r in rows]
