"""Use cases on deployments: create, read (now or at a time), traffic split, state
and environment, history.

Each mutation is one transaction (through the idempotency component): the
deployment row is locked, checked against the etag given, changed, and its
history event appended, or nothing is written. A traffic split is checked in two
steps: its shape before any work (percents 1-100, no version twice, a sum of
100), then, in the transaction, that each version exists for the deployment's
model and is not deleted; each error names the split's field and index."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from modelreg_server.domain import errors
from modelreg_server.domain.deployments import (
    Deployment,
    DeploymentChange,
    DeploymentEvent,
    DeploymentEventKind,
    NewDeployment,
    Split,
    deployment_name,
)
from modelreg_server.domain.names import etag as etag_of
from modelreg_server.domain.names import version_name
from modelreg_server.domain.types import ListQuery, Page, VersionState
from modelreg_server.limits import DEFAULT_LIMITS, FieldLimits
from modelreg_server.service import idempotency as idem
from modelreg_server.service import validation as check
from modelreg_server.service.common import check_etag
from modelreg_server.storage import deployments as dep_q
from modelreg_server.storage import models as model_q
from modelreg_server.storage import projects as project_q
from modelreg_server.storage.store import Conn, Store

ENVIRONMENT_RE = re.compile(r"^[A-Za-z0-9._-]{0,63}$")
VERSION_NOT_FOUND = "VERSION_NOT_FOUND"
VERSION_DELETED = "VERSION_DELETED"


def check_split(split: Split, field: str) -> list[list[int]]:
    """A split's shape, checked: ``[[version, percent], ...]`` by version."""
    if not split:
        raise errors.InvalidArgument(field, "required: at least one version with its percent")
    first: dict[int, int] = {}
    for i, (version, percent) in enumerate(split):
        where = f"{field}[{i}]"
        if not 1 <= version <= check.INT64[1]:
            raise errors.InvalidArgument(
                f"{where}.version", "required: a version number (1 or more)"
            )
        if not 1 <= percent <= 100:
            raise errors.InvalidArgument(f"{where}.percent", f"must be 1-100, got {percent}")
        if version in first:
            raise errors.InvalidArgument(
                f"{where}.version", f"version {version} is already in {field}[{first[version]}]"
            )
        first[version] = i
    total = sum(p for _, p in split)
    if total != 100:
        raise errors.InvalidArgument(field, f"the percents sum to {total}; they must sum to 100")
    return sorted([v, p] for v, p in split)


def check_environment(value: str, field: str) -> str:
    if not ENVIRONMENT_RE.fullmatch(value):
        raise errors.InvalidArgument(
            field,
            f"invalid environment {check.shown(value)}: at most 63 characters of "
            "A-Z, a-z, 0-9, '.', '_' or '-'",
        )
    return value


async def _check_versions(
    conn: Conn, project: str, model: str, model_id: int, split: Split, field: str
) -> None:
    """Each version of the split exists for the model and is not deleted (and stays so
    until the transaction ends)."""
    states = await dep_q.version_states(conn, model_id, (v for v, _ in split))
    for i, (version, _) in enumerate(split):
        state = states.get(version)
        if state is None:
            raise errors.InvalidArgument(
                f"{field}[{i}].version",
                f"no such version: {version_name(project, model, version)}",
                reason=VERSION_NOT_FOUND,
            )
        if state == VersionState.DELETED.value:
            raise errors.InvalidArgument(
                f"{field}[{i}].version",
                f"version {version} is deleted; restore it before sending traffic to it",
                reason=VERSION_DELETED,
            )


class DeploymentsService:
    def __init__(
        self, store: Store, requests: idem.Idempotency, limits: FieldLimits = DEFAULT_LIMITS
    ) -> None:
        self._store = store
        self._requests = requests
        self._limits = limits

    async def create_deployment(
        self,
        project: str,
        deployment_id: str,
        spec: NewDeployment,
        *,
        actor: str,
        reason: str = "",
        request_id: str = "",
    ) -> Deployment:
        if not deployment_id:
            raise errors.InvalidArgument("deployment_id", "required")
        check.name(deployment_id, "deployment_id", "deployment id")
        if not spec.model:
            raise errors.InvalidArgument("deployment.model", "required: projects/{p}/models/{m}")
        check.name(spec.model, "deployment.model", "model")
        traffic = check_split(spec.traffic, "deployment.traffic")
        check_environment(spec.environment, "deployment.environment")
        check.text(spec.description, "deployment.description", check.MAX_DESCRIPTION)
        check.labels(spec.labels, "deployment.labels", self._limits)
        check.text(reason, "reason", check.MAX_REASON)

        async def work(conn: Conn) -> Deployment:
            pid = await project_q.id_of(conn, project)
            mid = await model_q.id_of(conn, project, spec.model)
            await _check_versions(
                conn, project, spec.model, mid, spec.traffic, "deployment.traffic"
            )
            did = await dep_q.create(
                conn, project, pid, mid, deployment_id, spec, traffic, actor=actor, reason=reason
            )
            return await dep_q.get_by_id(conn, did)

        payload = (project, deployment_id, spec, reason)
        scope = deployment_name(project, deployment_id)
        return await self._requests.run(
            idem.CREATE_DEPLOYMENT, request_id, payload, work, scope=scope
        )

    async def get_deployment(
        self, project: str, name: str, read_time: datetime | None = None
    ) -> Deployment:
        """The deployment now, or as it was at ``read_time``: its traffic, state and
        environment then (its description and labels, not kept in the history, as now)."""
        async with self._store.read() as conn:
            current = await dep_q.get(conn, project, name)
            if read_time is None:
                return current
            then = await dep_q.last_event_at(conn, current["id"], read_time)
        if then is None:
            missing = errors.NotFound("deployment", deployment_name(project, name))
            missing.message += f" (created after {read_time.isoformat()})"
            missing.metadata["read_time"] = read_time.isoformat()
            raise missing
        return _as_of(current, then)

    async def list_deployments(self, project: str, model: str, q: ListQuery) -> Page[Deployment]:
        if model:
            check.name(model, "model", "model")
        tokens = await self._store.page_tokens()
        async with self._store.read() as conn:
            pid = await project_q.id_of(conn, project)
            return await dep_q.list_(conn, project, pid, model, q, tokens)

    async def set_traffic(
        self,
        project: str,
        name: str,
        split: Split,
        *,
        actor: str,
        etag: str = "",
        reason: str = "",
        request_id: str = "",
    ) -> Deployment:
        """Replace the split; the same split again changes nothing (and adds no event)."""
        traffic = check_split(split, "traffic")
        check.text(reason, "reason", check.MAX_REASON)
        full = deployment_name(project, name)

        async def work(conn: Conn) -> Deployment:
            current = await dep_q.get(conn, project, name, for_update=True)
            check_etag(etag, etag_of(current["revision"]), full)
            if current["traffic"] == traffic:
                return current
            await _check_versions(
                conn, project, current["model_name"], current["model_id"], split, "traffic"
            )
            t = await dep_q.update_(conn, current["id"], {"traffic": traffic}, actor=actor)
            await dep_q.add_events(
                conn,
                current["id"],
                [DeploymentEventKind.TRAFFIC],
                traffic=traffic,
                state=current["state"],
                environment=current["environment"],
                actor=actor,
                reason=reason,
                at=t,
            )
            return await dep_q.get_by_id(conn, current["id"])

        payload = (project, name, split, etag, reason)
        return await self._requests.run(idem.SET_TRAFFIC, request_id, payload, work, scope=full)

    async def update_deployment(
        self,
        project: str,
        name: str,
        change: DeploymentChange,
        *,
        actor: str,
        etag: str = "",
        reason: str = "",
        request_id: str = "",
    ) -> Deployment:
        """Change what ``change`` names: a new state is a STATE event, a new environment
        an UPDATE event (both, in that order, when both change); description and
        labels are not kept in the history."""
        values: dict[str, Any] = {}
        if change.state is not None:
            values["state"] = change.state.value
        if change.environment is not None:
            values["environment"] = check_environment(change.environment, "deployment.environment")
        if change.description is not None:
            values["description"] = check.text(
                change.description, "deployment.description", check.MAX_DESCRIPTION
            )
        if change.labels is not None:
            values["labels"] = dict(check.labels(change.labels, "deployment.labels", self._limits))
        if not values:
            raise errors.InvalidArgument("update_mask", "names no updatable field")
        check.text(reason, "reason", check.MAX_REASON)
        full = deployment_name(project, name)

        async def work(conn: Conn) -> Deployment:
            current = await dep_q.get(conn, project, name, for_update=True)
            check_etag(etag, etag_of(current["revision"]), full)
            kinds = []
            if values.get("state", current["state"]) != current["state"]:
                kinds.append(DeploymentEventKind.STATE)
            if values.get("environment", current["environment"]) != current["environment"]:
                kinds.append(DeploymentEventKind.UPDATE)
            t = await dep_q.update_(conn, current["id"], values, actor=actor)
            await dep_q.add_events(
                conn,
                current["id"],
                kinds,
                traffic=current["traffic"],
                state=values.get("state", current["state"]),
                environment=values.get("environment", current["environment"]),
                actor=actor,
                reason=reason,
                at=t,
            )
            return await dep_q.get_by_id(conn, current["id"])

        payload = (project, name, values, etag, reason)
        return await self._requests.run(
            idem.UPDATE_DEPLOYMENT, request_id, payload, work, scope=full
        )

    async def deployment_history(
        self, project: str, name: str, q: ListQuery
    ) -> Page[DeploymentEvent]:
        tokens = await self._store.page_tokens()
        async with self._store.read() as conn:
            current = await dep_q.get(conn, project, name)
            return await dep_q.history(conn, current["id"], q, tokens)


def _as_of(current: Deployment, then: DeploymentEvent) -> Deployment:
    """The deployment as the event left it: its traffic, state and environment, and
    who changed it when; no etag (revision 0): a past state is no base for a change."""
    return {
        **current,
        "traffic": then["traffic"],
        "state": then["state"],
        "environment": then["environment"],
        "updated_by": then["actor"],
        "update_time": then["event_time"],
        "revision": 0,
    }
