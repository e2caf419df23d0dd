"""Use cases on projects and registered models."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelreg_server.domain import errors
from modelreg_server.domain.types import (
    ListQuery,
    Model,
    Page,
    Project,
)
from modelreg_server.service import validation as check
from modelreg_server.service.unit import ServiceBase, check_etag, no_result
from modelreg_server.storage import projects as project_q
from modelreg_server.storage.store import Conn


class ProjectsService(ServiceBase):
    async def create_project(
        self, project: str, description: str, labels: Mapping[str, str], *, request_id: str = ""
    ) -> Project:
        check.name(project, "project_id", "project name")
        check.text(description, "project.description", check.MAX_DESCRIPTION)
        check.labels(labels, "project.labels")

        async def work(conn: Conn) -> Project:
            return await project_q.create_project(conn, project, description, labels)

        return await self._once(
            "CreateProject",
            request_id,
            (project, description, labels),
            work,
            lambda conn, _: project_q.get_project(conn, project),
            lambda p: p.name,
        )

    async def get_project(self, project: str) -> Project:
        async with self._store.read() as conn:
            return await project_q.get_project(conn, project)

    async def list_projects(self, q: ListQuery) -> Page[Project]:
        async with self._store.read() as conn:
            return await project_q.list_projects(conn, q)

    async def update_project(
        self,
        project: str,
        *,
        description: str | None,
        labels: Mapping[str, str] | None,
        etag: str = "",
        request_id: str = "",
    ) -> Project:
        values = self._editable(description, labels, "project")

        async def work(conn: Conn) -> Project:
            _, current = await project_q.lock_project(conn, project)
            check_etag(etag, current, f"projects/{project}")
            return await project_q.update_project(conn, project, values)

        return await self._once(
            "UpdateProject",
            request_id,
            (project, values, etag),
            work,
            lambda conn, _: project_q.get_project(conn, project),
            lambda p: p.name,
        )

    async def delete_project(
        self, project: str, *, force: bool, etag: str = "", request_id: str = ""
    ) -> None:
        async def work(conn: Conn) -> None:
            pid, current = await project_q.lock_project(conn, project)
            check_etag(etag, current, f"projects/{project}")
            if not force and await project_q.project_has_models(conn, pid):
                raise errors.FailedPrecondition(
                    f"projects/{project} still has models; delete them or pass force",
                    reason="NOT_EMPTY",
                )
            await project_q.delete_project(conn, project)

        await self._once(
            "DeleteProject", request_id, (project, force, etag), work, no_result, lambda _: project
        )

    # Models

    async def create_model(
        self,
        project: str,
        model: str,
        description: str,
        labels: Mapping[str, str],
        *,
        request_id: str = "",
    ) -> Model:
        check.name(model, "model_id", "model name")
        check.text(description, "model.description", check.MAX_DESCRIPTION)
        check.labels(labels, "model.labels")

        async def work(conn: Conn) -> Model:
            return await project_q.create_model(conn, project, model, description, labels)

        return await self._once(
            "CreateModel",
            request_id,
            (project, model, description, labels),
            work,
            lambda conn, _: project_q.get_model(conn, project, model),
            lambda m: f"{m.project}/{m.name}",
        )

    async def get_model(self, project: str, model: str) -> Model:
        async with self._store.read() as conn:
            return await project_q.get_model(conn, project, model)

    async def list_models(self, project: str, q: ListQuery) -> Page[Model]:
        async with self._store.read() as conn:
            return await project_q.list_models(conn, project, q)

    async def update_model(
        self,
        project: str,
        model: str,
        *,
        description: str | None,
        labels: Mapping[str, str] | None,
        etag: str = "",
        request_id: str = "",
    ) -> Model:
        values = self._editable(description, labels, "model")

        async def work(conn: Conn) -> Model:
            mid, current = await project_q.lock_model(conn, project, model)
            check_etag(etag, current, f"projects/{project}/models/{model}")
            return await project_q.update_model(conn, mid, values)

        return await self._once(
            "UpdateModel",
            request_id,
            (project, model, values, etag),
            work,
            lambda conn, _: project_q.get_model(conn, project, model),
            lambda m: m.name,
        )

    async def delete_model(
        self, project: str, model: str, *, force: bool, etag: str = "", request_id: str = ""
    ) -> None:
        async def work(conn: Conn) -> None:
            mid, current = await project_q.lock_model(conn, project, model)
            check_etag(etag, current, f"projects/{project}/models/{model}")
            if not force and await project_q.model_has_versions(conn, mid):
                raise errors.FailedPrecondition(
                    f"projects/{project}/models/{model} has versions; pass force to delete "
                    "them with the model",
                    reason="NOT_EMPTY",
                )
            await project_q.delete_model(conn, mid)

        await self._once(
            "DeleteModel",
            request_id,
            (project, model, force, etag),
            work,
            no_result,
            lambda _: model,
        )

    @staticmethod
    def _editable(
        description: str | None, labels: Mapping[str, str] | None, field: str
    ) -> dict[str, Any]:
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
