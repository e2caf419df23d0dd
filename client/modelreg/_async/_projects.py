"""Projects: the top of the tree, ``projects/{project}``."""

from __future__ import annotations

from collections.abc import Mapping

from modelreg import _convert
from modelreg import _requests as req
from modelreg._async._rpc import AsyncPager, AsyncRPC
from modelreg._types import Project
from modelreg.api.v1 import registry_service_pb2 as rpc


class AsyncProjects:
    """The project methods of AsyncClient."""

    _rpc: AsyncRPC

    async def create_project(
        self,
        name: str,
        *,
        description: str = "",
        labels: Mapping[str, str] | None = None,
        request_id: str | None = None,
    ) -> Project:
        """Create a project, e.g. ``translate_kr2en``."""
        request = req.create_project(name, description, labels, request_id)
        return _convert.project(await self._rpc.call("CreateProject", request))

    async def get_project(self, name: str) -> Project:
        request = rpc.GetProjectRequest(name=req.project_name(name))
        return _convert.project(await self._rpc.call("GetProject", request))

    def list_projects(
        self, *, filter: str = "", order_by: str = "", page_size: int = 0
    ) -> AsyncPager[Project]:
        """Iterate over all projects, fetching pages as needed."""
        request = rpc.ListProjectsRequest(
            filter=filter, order_by=order_by, page_size=req.page_size(page_size)
        )
        return self._rpc.pages("ListProjects", request, "projects", _convert.project)

    async def update_project(
        self,
        name: str,
        *,
        description: str | None = None,
        labels: Mapping[str, str] | None = None,
        etag: str = "",
        request_id: str | None = None,
    ) -> Project:
        """Change description and/or labels; pass ``etag`` to refuse a lost update."""
        request = req.update_project(name, description, labels, etag, request_id)
        return _convert.project(await self._rpc.call("UpdateProject", request))

    async def delete_project(
        self, name: str, *, force: bool = False, etag: str = "", request_id: str | None = None
    ) -> None:
        """Delete a project; ``force`` also deletes its models and versions."""
        request = rpc.DeleteProjectRequest(
            name=req.project_name(name),
            force=force,
            etag=etag,
            request_id=request_id or req.new_request_id(),
        )
        await self._rpc.call("DeleteProject", request)
