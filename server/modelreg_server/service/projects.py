"""Use cases on projects."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelreg_server.domain import errors
from modelreg_server.domain.names import project_name
from modelreg_server.domain.types import ListQuery, Page, Project
from modelreg_server.service import idempotency as idem
from modelreg_server.service import validation as check
from modelreg_server.service.common import check_etag
from modelreg_server.storage import projects as project_q
from modelreg_server.storage.store import Conn, Store


def editable(
    description: str | None, labels: Mapping[str, str] | None, field: str
) -> dict[str, Any]:
    """The columns an update_mask names, validated (projects and models alike)."""
    values: dict[str, Any] = {}
    if description is not None:
        values["description"] = check.text(
            description, f"{field}.description", check.MAX_DESCRIPTION
        )
    if labels is not None:
        values["labels"] = dict(check.labels(labels, f"{field}.labels"))
    if not values:
        raise errors.InvalidArgument("update_mask", "names no updatable field")
    return values


class ProjectsService:
    def __init__(self, store: Store, requests: idem.Idempotency) -> None:
        self._store = store
        self._requests = requests

    async def create_project(
        self, project: str, description: str, labels: Mapping[str, str], *, request_id: str = ""
    ) -> Project:
        check.name(project, "project_id", "project name")
        check.text(description, "project.description", check.MAX_DESCRIPTION)
        check.labels(labels, "project.labels")

        async def work(conn: Conn) -> Project:
            return await project_q.create(conn, project, description, labels)

        payload = (project, description, labels)
        return await self._requests.run(idem.CREATE_PROJECT, request_id, payload, work, scope="")

    async def get_project(self, project: str) -> Project:
        async with self._store.read() as conn:
            return await project_q.get(conn, project)

    async def list_projects(self, q: ListQuery, only: str | None = None) -> Page[Project]:
        """``only``: list just that project (the caller's key is of that project)."""
        tokens = await self._store.page_tokens()
        async with self._store.read() as conn:
            return await project_q.list_(conn, q, tokens, only)

    async def update_project(
        self,
        project: str,
        *,
        description: str | None,
        labels: Mapping[str, str] | None,
        etag: str = "",
        request_id: str = "",
    ) -> Project:
        values = editable(description, labels, "project")

        async def work(conn: Conn) -> Project:
            pid, current = await project_q.lock(conn, project)
            check_etag(etag, current, project_name(project))
            return await project_q.update_(conn, pid, values)

        payload = (project, values, etag)
        scope = project_name(project)
        return await self._requests.run(idem.UPDATE_PROJECT, request_id, payload, work, scope=scope)

    async def delete_project(
        self, project: str, *, force: bool, etag: str = "", request_id: str = ""
    ) -> None:
        async def work(conn: Conn) -> None:
            pid, current = await project_q.lock(conn, project)
            check_etag(etag, current, project_name(project))
            if not force and await project_q.has_models(conn, pid):
                raise errors.FailedPrecondition(
                    f"{project_name(project)} still has models; delete them or pass force",
                    reason="NOT_EMPTY",
                )
            await project_q.delete_(conn, pid)

        payload = (project, force, etag)
        scope = project_name(project)
        await self._requests.run(idem.DELETE_PROJECT, request_id, payload, work, scope=scope)
