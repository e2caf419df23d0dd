"""ProductionService's deployment methods: parse names, convert, call the
deployments service object, fill the response."""

from __future__ import annotations

from grpc.aio import ServicerContext as Context

from modelreg.api.v1 import production_service_pb2 as rpc
from modelreg.api.v1 import resources_pb2 as pb
from modelreg_server.domain.deployments import DeploymentChange
from modelreg_server.domain.errors import InvalidArgument
from modelreg_server.domain.types import ListQuery
from modelreg_server.service.deployments import DeploymentsService
from modelreg_server.transport import deployment_convert as dc
from modelreg_server.transport import names
from modelreg_server.transport.metadata import actor

_EDITABLE = ("state", "environment", "description", "labels")


def _change(request: rpc.UpdateDeploymentRequest) -> DeploymentChange:
    """What the update_mask names, from the request's deployment."""
    allowed = ", ".join(_EDITABLE)
    paths = list(request.update_mask.paths)
    if not paths:
        raise InvalidArgument("update_mask", f"required; updatable paths: {allowed}")
    for path in paths:
        if path not in _EDITABLE:
            raise InvalidArgument(
                "update_mask", f"cannot update {path!r}; updatable paths: {allowed}"
            )
    d = request.deployment
    state = None
    if "state" in paths:
        if d.state == pb.Deployment.STATE_UNSPECIFIED:
            raise InvalidArgument("deployment.state", "required: ACTIVE, PAUSED or RETIRED")
        state = dc.state(d.state, "deployment.state")
    return DeploymentChange(
        state=state,
        environment=d.environment if "environment" in paths else None,
        description=d.description if "description" in paths else None,
        labels=dict(d.labels) if "labels" in paths else None,
    )


class DeploymentMethods:
    _deployments: DeploymentsService

    async def CreateDeployment(
        self, request: rpc.CreateDeploymentRequest, context: Context
    ) -> pb.Deployment:
        project = names.project(request.parent, "parent")
        d = await self._deployments.create_deployment(
            project,
            request.deployment_id,
            dc.new_deployment(request.deployment, project),
            actor=actor(context),
            reason=request.reason,
            request_id=request.request_id,
        )
        return dc.fill_deployment(pb.Deployment(), d)

    async def GetDeployment(
        self, request: rpc.GetDeploymentRequest, context: Context
    ) -> pb.Deployment:
        project, name = dc.deployment(request.name)
        d = await self._deployments.get_deployment(project, name, dc.read_time(request))
        return dc.fill_deployment(pb.Deployment(), d)

    async def ListDeployments(
        self, request: rpc.ListDeploymentsRequest, context: Context
    ) -> rpc.ListDeploymentsResponse:
        project = names.project(request.parent, "parent")
        query = ListQuery(page_size=request.page_size, page_token=request.page_token)
        page = await self._deployments.list_deployments(project, request.model, query)
        response = rpc.ListDeploymentsResponse(next_page_token=page.next_page_token)
        for d in page.items:
            dc.fill_deployment(response.deployments.add(), d)
        return response

    async def SetTraffic(self, request: rpc.SetTrafficRequest, context: Context) -> pb.Deployment:
        project, name = dc.deployment(request.name)
        d = await self._deployments.set_traffic(
            project,
            name,
            dc.split(request.traffic),
            actor=actor(context),
            etag=request.etag,
            reason=request.reason,
            request_id=request.request_id,
        )
        return dc.fill_deployment(pb.Deployment(), d)

    async def UpdateDeployment(
        self, request: rpc.UpdateDeploymentRequest, context: Context
    ) -> pb.Deployment:
        project, name = dc.deployment(request.deployment.name, "deployment.name")
        d = await self._deployments.update_deployment(
            project,
            name,
            _change(request),
            actor=actor(context),
            etag=request.etag or request.deployment.etag,
            reason=request.reason,
            request_id=request.request_id,
        )
        return dc.fill_deployment(pb.Deployment(), d)

    async def ListDeploymentHistory(
        self, request: rpc.ListDeploymentHistoryRequest, context: Context
    ) -> rpc.ListDeploymentHistoryResponse:
        project, name = dc.deployment(request.name)
        query = ListQuery(page_size=request.page_size, page_token=request.page_token)
        page = await self._deployments.deployment_history(project, name, query)
        response = rpc.ListDeploymentHistoryResponse(next_page_token=page.next_page_token)
        for e in page.items:
            dc.fill_event(response.events.add(), e)
        return response
