# Generated from client/modelreg/_async/_projects.py by client/tools/unasync.py: do not edit.
# Change the async source and run `make sync`; `make lint` fails while this is stale.
"""Projects: the top of the tree, ``projects/{project}``."""

from __future__ import annotations

from collections.abc import Mapping

from modelreg import _convert
from modelreg import _requests as req
from modelreg._sync._rpc import RPC, Pager
from modelreg._types import Project
from modelreg.api.v1 import registry_service_pb2 as rpc


class Projects:
    """The project methods of Client."""

    _rpc: RPC

    def create_project(
        self,
        name: str,
        *,
        description: str = "",
        labels: Mapping[str, str] | None = None,
        request_id: str | None = None,
    ) -> Project:
        """Create a project, e.g. ``translate_kr2en``."""
        request = req.create_project(name, description, labels, request_id)
        return _convert.project(self._rpc.call("CreateProject", request))

    def get_project(self, name: str) -> Project:
        request = rpc.GetProjectRequest(name=req.project_name(name))
        return _convert.project(self._rpc.call("GetProject", request))

    def list_projects(
        self, *, filter: str = "", order_by: str = "", page_size: int = 0
    ) -> Pager[Project]:
        """Iterate over all projects, fetching pages as needed."""
        request = rpc.ListProjectsRequest(
            filter=filter, order_by=order_by, page_size=req.page_size(page_size)
        )
        return self._rpc.pages("ListProjects", request, "projects", _convert.project)

    def update_project(
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
        return _convert.project(self._rpc.call("UpdateProject", request))

    def delete_project(
        self, name: str, *, force: bool = False, etag: str = "", request_id: str | None = None
    ) -> None:
        """Delete a project; ``force`` also deletes its models and versions."""
        request = rpc.DeleteProjectRequest(
            name=req.project_name(name),
            force=force,
            etag=etag,
            request_id=request_id or req.new_request_id(),
        )
        self._rpc.call("DeleteProject", request)
