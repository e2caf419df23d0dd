"""RegistryService's servicer: parse names, convert, call the registry family's
service objects, fill the response."""

from __future__ import annotations

from collections.abc import Mapping

from google.protobuf import empty_pb2, field_mask_pb2
from grpc.aio import ServicerContext as Context

from modelreg.api.v1 import registry_service_pb2 as rpc
from modelreg.api.v1 import registry_service_pb2_grpc as rpc_grpc
from modelreg.api.v1 import resources_pb2 as pb
from modelreg_server.domain.errors import InvalidArgument
from modelreg_server.domain.types import ListQuery, VersionState
from modelreg_server.service.registry import Registry
from modelreg_server.transport import convert, metadata, names
from modelreg_server.transport.metadata import actor

_EDITABLE = ("description", "labels")


def _mask(
    mask: field_mask_pb2.FieldMask, description: str, labels: Mapping[str, str]
) -> tuple[str | None, dict[str, str] | None]:
    """(description, labels) to write, from an update_mask over description and labels."""
    allowed = ", ".join(_EDITABLE)
    if not mask.paths:
        raise InvalidArgument("update_mask", f"required; updatable paths: {allowed}")
    for path in mask.paths:
        if path not in _EDITABLE:
            raise InvalidArgument(
                "update_mask", f"cannot update {path!r}; updatable paths: {allowed}"
            )
    return (
        description if "description" in mask.paths else None,
        dict(labels) if "labels" in mask.paths else None,
    )


def _query(
    req: rpc.ListProjectsRequest | rpc.ListModelsRequest | rpc.ListModelVersionsRequest,
) -> ListQuery:
    return ListQuery(
        page_size=req.page_size, page_token=req.page_token, filter=req.filter, order_by=req.order_by
    )


class RegistryServicer(rpc_grpc.RegistryServiceServicer):
    def __init__(self, registry: Registry) -> None:
        self._projects = registry.projects
        self._models = registry.models
        self._versions = registry.versions
        self._aliases = registry.aliases

    # Projects

    async def CreateProject(
        self, request: rpc.CreateProjectRequest, context: Context
    ) -> pb.Project:
        p = await self._projects.create_project(
            request.project_id,
            request.project.description,
            dict(request.project.labels),
            request_id=request.request_id,
        )
        return convert.fill_project(pb.Project(), p)

    async def GetProject(self, request: rpc.GetProjectRequest, context: Context) -> pb.Project:
        p = await self._projects.get_project(names.project(request.name))
        return convert.fill_project(pb.Project(), p)

    async def ListProjects(
        self, request: rpc.ListProjectsRequest, context: Context
    ) -> rpc.ListProjectsResponse:
        # A project's key lists its own project only; a server admin (or no auth), all.
        principal = metadata.caller()
        only = principal.project if principal is not None else None
        page = await self._projects.list_projects(_query(request), only)
        response = rpc.ListProjectsResponse(next_page_token=page.next_page_token)
        for p in page.items:
            convert.fill_project(response.projects.add(), p)
        return response

    async def UpdateProject(
        self, request: rpc.UpdateProjectRequest, context: Context
    ) -> pb.Project:
        project = request.project
        description, labels = _mask(request.update_mask, project.description, project.labels)
        p = await self._projects.update_project(
            names.project(project.name, "project.name"),
            description=description,
            labels=labels,
            etag=project.etag,
            request_id=request.request_id,
        )
        return convert.fill_project(pb.Project(), p)

    async def DeleteProject(
        self, request: rpc.DeleteProjectRequest, context: Context
    ) -> empty_pb2.Empty:
        await self._projects.delete_project(
            names.project(request.name),
            force=request.force,
            etag=request.etag,
            request_id=request.request_id,
        )
        return empty_pb2.Empty()

    # Models

    async def CreateModel(self, request: rpc.CreateModelRequest, context: Context) -> pb.Model:
        m = await self._models.create_model(
            names.project(request.parent, "parent"),
            request.model_id,
            request.model.description,
            dict(request.model.labels),
            request_id=request.request_id,
        )
        return convert.fill_model(pb.Model(), m)

    async def GetModel(self, request: rpc.GetModelRequest, context: Context) -> pb.Model:
        m = await self._models.get_model(*names.model(request.name))
        return convert.fill_model(pb.Model(), m)

    async def ListModels(
        self, request: rpc.ListModelsRequest, context: Context
    ) -> rpc.ListModelsResponse:
        project = names.project(request.parent, "parent")
        page = await self._models.list_models(project, _query(request))
        response = rpc.ListModelsResponse(next_page_token=page.next_page_token)
        for m in page.items:
            convert.fill_model(response.models.add(), m)
        return response

    async def UpdateModel(self, request: rpc.UpdateModelRequest, context: Context) -> pb.Model:
        model = request.model
        description, labels = _mask(request.update_mask, model.description, model.labels)
        m = await self._models.update_model(
            *names.model(model.name, "model.name"),
            description=description,
            labels=labels,
            etag=model.etag,
            request_id=request.request_id,
        )
        return convert.fill_model(pb.Model(), m)

    async def DeleteModel(
        self, request: rpc.DeleteModelRequest, context: Context
    ) -> empty_pb2.Empty:
        await self._models.delete_model(
            *names.model(request.name),
            force=request.force,
            etag=request.etag,
            request_id=request.request_id,
        )
        return empty_pb2.Empty()

    # Versions

    async def CreateModelVersion(
        self, request: rpc.CreateModelVersionRequest, context: Context
    ) -> pb.ModelVersion:
        project, model = names.model(request.parent, "parent")
        v = await self._versions.create_model_version(
            project,
            model,
            convert.new_version(request.model_version),
            actor=actor(context),
            request_id=request.request_id,
        )
        return convert.fill_version(pb.ModelVersion(), v)

    async def GetModelVersion(
        self, request: rpc.GetModelVersionRequest, context: Context
    ) -> pb.ModelVersion:
        v = await self._versions.get_model_version(names.version(request.name))
        return convert.fill_version(pb.ModelVersion(), v)

    async def ListModelVersions(
        self, request: rpc.ListModelVersionsRequest, context: Context
    ) -> rpc.ListModelVersionsResponse:
        project, model = names.model(request.parent, "parent")
        page = await self._versions.list_model_versions(
            project, model, _query(request), show_deleted=request.show_deleted
        )
        response = rpc.ListModelVersionsResponse(next_page_token=page.next_page_token)
        add = response.model_versions.add
        for v in page.items:
            convert.fill_version(add(), v)
        return response

    async def UpdateModelVersion(
        self, request: rpc.UpdateModelVersionRequest, context: Context
    ) -> pb.ModelVersion:
        mv = request.model_version
        description, labels = _mask(request.update_mask, mv.description, mv.labels)
        v = await self._versions.update_model_version(
            names.version(mv.name, "model_version.name"),
            description=description,
            labels=labels,
            etag=mv.etag,
            request_id=request.request_id,
        )
        return convert.fill_version(pb.ModelVersion(), v)

    async def _state(
        self,
        request: rpc.DeleteModelVersionRequest
        | rpc.ArchiveModelVersionRequest
        | rpc.RestoreModelVersionRequest,
        state: VersionState,
    ) -> pb.ModelVersion:
        v = await self._versions.set_version_state(
            names.version(request.name), state, etag=request.etag, request_id=request.request_id
        )
        return convert.fill_version(pb.ModelVersion(), v)

    async def DeleteModelVersion(
        self, request: rpc.DeleteModelVersionRequest, context: Context
    ) -> pb.ModelVersion:
        return await self._state(request, VersionState.DELETED)

    async def ArchiveModelVersion(
        self, request: rpc.ArchiveModelVersionRequest, context: Context
    ) -> pb.ModelVersion:
        return await self._state(request, VersionState.ARCHIVED)

    async def RestoreModelVersion(
        self, request: rpc.RestoreModelVersionRequest, context: Context
    ) -> pb.ModelVersion:
        return await self._state(request, VersionState.READY)

    # Aliases

    async def SetAlias(self, request: rpc.SetAliasRequest, context: Context) -> pb.Alias:
        project, model = names.model(request.parent, "parent")
        a = await self._aliases.set_alias(
            project,
            model,
            request.alias,
            request.version,
            actor=actor(context),
            etag=request.etag,
            reason=request.reason,
            request_id=request.request_id,
        )
        return convert.fill_alias(pb.Alias(), a)

    async def GetAlias(self, request: rpc.GetAliasRequest, context: Context) -> pb.Alias:
        a = await self._aliases.get_alias(*names.alias(request.name))
        return convert.fill_alias(pb.Alias(), a)

    async def ListAliases(
        self, request: rpc.ListAliasesRequest, context: Context
    ) -> rpc.ListAliasesResponse:
        project, model = names.model(request.parent, "parent")
        query = ListQuery(page_size=request.page_size, page_token=request.page_token)
        page = await self._aliases.list_aliases(project, model, query)
        response = rpc.ListAliasesResponse(next_page_token=page.next_page_token)
        for a in page.items:
            convert.fill_alias(response.aliases.add(), a)
        return response

    async def DeleteAlias(
        self, request: rpc.DeleteAliasRequest, context: Context
    ) -> empty_pb2.Empty:
        await self._aliases.delete_alias(
            *names.alias(request.name),
            actor=actor(context),
            etag=request.etag,
            reason=request.reason,
            request_id=request.request_id,
        )
        return empty_pb2.Empty()

    async def ListAliasHistory(
        self, request: rpc.ListAliasHistoryRequest, context: Context
    ) -> rpc.ListAliasHistoryResponse:
        query = ListQuery(page_size=request.page_size, page_token=request.page_token)
        page = await self._aliases.alias_history(*names.alias(request.name), query)
        response = rpc.ListAliasHistoryResponse(next_page_token=page.next_page_token)
        for e in page.items:
            convert.fill_alias_event(response.events.add(), e)
        return response

    async def RollbackAlias(self, request: rpc.RollbackAliasRequest, context: Context) -> pb.Alias:
        a = await self._aliases.rollback_alias(
            *names.alias(request.name),
            actor=actor(context),
            etag=request.etag,
            reason=request.reason,
            request_id=request.request_id,
        )
        return convert.fill_alias(pb.Alias(), a)
