"""RegistryService servicer: parse names, convert, call the service, convert back."""

from __future__ import annotations

from collections.abc import Mapping

import grpc
from google.protobuf import empty_pb2, field_mask_pb2

from modelreg.api.v1 import registry_service_pb2 as rpc
from modelreg.api.v1 import registry_service_pb2_grpc as rpc_grpc
from modelreg.api.v1 import resources_pb2 as pb
from modelreg_server.domain.errors import InvalidArgument
from modelreg_server.domain.types import ListQuery, VersionState
from modelreg_server.service import validation
from modelreg_server.service.registry import RegistryService
from modelreg_server.transport import convert, names

ACTOR_METADATA = "modelreg-actor"
ANONYMOUS = "anonymous"


def actor(context: grpc.aio.ServicerContext) -> str:
    """Who is calling. Until API keys exist this is what the client says it is."""
    for key, value in context.invocation_metadata() or ():
        if key == ACTOR_METADATA and isinstance(value, str):
            return validation.text(value, f"metadata {ACTOR_METADATA}")
    return ANONYMOUS


def _mask(
    mask: field_mask_pb2.FieldMask,
    allowed: tuple[str, ...],
    description: str,
    labels: Mapping[str, str],
) -> tuple[str | None, dict[str, str] | None]:
    """(description, labels) to write, from an update_mask over ``allowed`` paths."""
    if not mask.paths:
        raise InvalidArgument("update_mask", f"required; updatable paths: {', '.join(allowed)}")
    for path in mask.paths:
        if path not in allowed:
            raise InvalidArgument(
                "update_mask", f"cannot update {path!r}; updatable paths: {', '.join(allowed)}"
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
    def __init__(self, service: RegistryService) -> None:
        self._svc = service

    # Projects

    async def CreateProject(
        self, request: rpc.CreateProjectRequest, context: grpc.aio.ServicerContext
    ) -> pb.Project:
        p = await self._svc.create_project(
            request.project_id,
            request.project.description,
            dict(request.project.labels),
            request_id=request.request_id,
        )
        return convert.project_pb(p)

    async def GetProject(
        self, request: rpc.GetProjectRequest, context: grpc.aio.ServicerContext
    ) -> pb.Project:
        return convert.project_pb(await self._svc.get_project(names.project(request.name)))

    async def ListProjects(
        self, request: rpc.ListProjectsRequest, context: grpc.aio.ServicerContext
    ) -> rpc.ListProjectsResponse:
        page = await self._svc.list_projects(_query(request))
        return rpc.ListProjectsResponse(
            projects=[convert.project_pb(p) for p in page.items],
            next_page_token=page.next_page_token,
        )

    async def UpdateProject(
        self, request: rpc.UpdateProjectRequest, context: grpc.aio.ServicerContext
    ) -> pb.Project:
        description, labels = _mask(
            request.update_mask,
            ("description", "labels"),
            request.project.description,
            request.project.labels,
        )
        p = await self._svc.update_project(
            names.project(request.project.name, "project.name"),
            description=description,
            labels=labels,
            etag=request.project.etag,
            request_id=request.request_id,
        )
        return convert.project_pb(p)

    async def DeleteProject(
        self, request: rpc.DeleteProjectRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        await self._svc.delete_project(
            names.project(request.name),
            force=request.force,
            etag=request.etag,
            request_id=request.request_id,
        )
        return empty_pb2.Empty()

    # Models

    async def CreateModel(
        self, request: rpc.CreateModelRequest, context: grpc.aio.ServicerContext
    ) -> pb.Model:
        m = await self._svc.create_model(
            names.project(request.parent, "parent"),
            request.model_id,
            request.model.description,
            dict(request.model.labels),
            request_id=request.request_id,
        )
        return convert.model_pb(m)

    async def GetModel(
        self, request: rpc.GetModelRequest, context: grpc.aio.ServicerContext
    ) -> pb.Model:
        return convert.model_pb(await self._svc.get_model(*names.model(request.name)))

    async def ListModels(
        self, request: rpc.ListModelsRequest, context: grpc.aio.ServicerContext
    ) -> rpc.ListModelsResponse:
        page = await self._svc.list_models(names.project(request.parent, "parent"), _query(request))
        return rpc.ListModelsResponse(
            models=[convert.model_pb(m) for m in page.items], next_page_token=page.next_page_token
        )

    async def UpdateModel(
        self, request: rpc.UpdateModelRequest, context: grpc.aio.ServicerContext
    ) -> pb.Model:
        description, labels = _mask(
            request.update_mask,
            ("description", "labels"),
            request.model.description,
            request.model.labels,
        )
        m = await self._svc.update_model(
            *names.model(request.model.name, "model.name"),
            description=description,
            labels=labels,
            etag=request.model.etag,
            request_id=request.request_id,
        )
        return convert.model_pb(m)

    async def DeleteModel(
        self, request: rpc.DeleteModelRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        await self._svc.delete_model(
            *names.model(request.name),
            force=request.force,
            etag=request.etag,
            request_id=request.request_id,
        )
        return empty_pb2.Empty()

    # Versions

    async def CreateModelVersion(
        self, request: rpc.CreateModelVersionRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelVersion:
        project, model = names.model(request.parent, "parent")
        v = await self._svc.create_model_version(
            project,
            model,
            convert.new_version(request.model_version),
            actor=actor(context),
            request_id=request.request_id,
        )
        return convert.version_pb(v)

    async def GetModelVersion(
        self, request: rpc.GetModelVersionRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelVersion:
        return convert.version_pb(await self._svc.get_model_version(names.version(request.name)))

    async def ListModelVersions(
        self, request: rpc.ListModelVersionsRequest, context: grpc.aio.ServicerContext
    ) -> rpc.ListModelVersionsResponse:
        project, model = names.model(request.parent, "parent")
        page = await self._svc.list_model_versions(
            project, model, _query(request), show_deleted=request.show_deleted
        )
        return rpc.ListModelVersionsResponse(
            model_versions=[convert.version_pb(v) for v in page.items],
            next_page_token=page.next_page_token,
        )

    async def UpdateModelVersion(
        self, request: rpc.UpdateModelVersionRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelVersion:
        mv = request.model_version
        description, labels = _mask(
            request.update_mask, ("description", "labels"), mv.description, mv.labels
        )
        v = await self._svc.update_model_version(
            names.version(mv.name, "model_version.name"),
            description=description,
            labels=labels,
            etag=mv.etag,
            request_id=request.request_id,
        )
        return convert.version_pb(v)

    async def _state(
        self,
        request: rpc.DeleteModelVersionRequest
        | rpc.ArchiveModelVersionRequest
        | rpc.RestoreModelVersionRequest,
        state: VersionState,
    ) -> pb.ModelVersion:
        v = await self._svc.set_version_state(
            names.version(request.name), state, etag=request.etag, request_id=request.request_id
        )
        return convert.version_pb(v)

    async def DeleteModelVersion(
        self, request: rpc.DeleteModelVersionRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelVersion:
        return await self._state(request, VersionState.DELETED)

    async def ArchiveModelVersion(
        self, request: rpc.ArchiveModelVersionRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelVersion:
        return await self._state(request, VersionState.ARCHIVED)

    async def RestoreModelVersion(
        self, request: rpc.RestoreModelVersionRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelVersion:
        return await self._state(request, VersionState.READY)

    # Aliases

    async def SetAlias(
        self, request: rpc.SetAliasRequest, context: grpc.aio.ServicerContext
    ) -> pb.Alias:
        project, model = names.model(request.parent, "parent")
        a = await self._svc.set_alias(
            project,
            model,
            request.alias,
            request.version,
            actor=actor(context),
            etag=request.etag,
            reason=request.reason,
            request_id=request.request_id,
        )
        return convert.alias_pb(a)

    async def GetAlias(
        self, request: rpc.GetAliasRequest, context: grpc.aio.ServicerContext
    ) -> pb.Alias:
        return convert.alias_pb(await self._svc.get_alias(*names.alias(request.name)))

    async def ListAliases(
        self, request: rpc.ListAliasesRequest, context: grpc.aio.ServicerContext
    ) -> rpc.ListAliasesResponse:
        found = await self._svc.list_aliases(*names.model(request.parent, "parent"))
        return rpc.ListAliasesResponse(aliases=[convert.alias_pb(a) for a in found])

    async def DeleteAlias(
        self, request: rpc.DeleteAliasRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        await self._svc.delete_alias(
            *names.alias(request.name),
            actor=actor(context),
            etag=request.etag,
            reason=request.reason,
            request_id=request.request_id,
        )
        return empty_pb2.Empty()

    async def ListAliasHistory(
        self, request: rpc.ListAliasHistoryRequest, context: grpc.aio.ServicerContext
    ) -> rpc.ListAliasHistoryResponse:
        page = await self._svc.alias_history(
            *names.alias(request.name),
            ListQuery(page_size=request.page_size, page_token=request.page_token),
        )
        return rpc.ListAliasHistoryResponse(
            events=[convert.alias_event_pb(e) for e in page.items],
            next_page_token=page.next_page_token,
        )

    async def RollbackAlias(
        self, request: rpc.RollbackAliasRequest, context: grpc.aio.ServicerContext
    ) -> pb.Alias:
        a = await self._svc.rollback_alias(
            *names.alias(request.name),
            actor=actor(context),
            etag=request.etag,
            reason=request.reason,
            request_id=request.request_id,
        )
        return convert.alias_pb(a)
