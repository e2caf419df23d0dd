# Generated from client/modelreg/_async/_deployments.py by client/tools/unasync.py: do not edit.
# Change the async source and run `make sync`; `make lint` fails while this is stale.
"""Deployments: ``projects/{p}/deployments/{d}``, a model's traffic split over versions in
an environment, and the history of its changes ("what was deployed at time T")."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from modelreg import _convert
from modelreg import _deployment_requests as dr
from modelreg import _requests as req
from modelreg._deployment_types import Deployment, DeploymentEvent, DeploymentState
from modelreg._settings import DEFAULT_PAGE_SIZE
from modelreg._sync._rpc import PRODUCTION, RPC
from modelreg.api.v1 import production_service_pb2 as prod


class Deployments:
    """The deployment methods of Client."""

    _rpc: RPC

    def create_deployment(
        self,
        project: str,
        name: str,
        *,
        model: str,
        traffic: Mapping[int, int],
        environment: str = "",
        description: str = "",
        labels: Mapping[str, str] | None = None,
        reason: str = "",
        request_id: str | None = None,
    ) -> Deployment:
        """Deploy a model of the project with its first traffic split.

        Args:
            name: the deployment id, ``[a-z][a-z0-9_-]{0,62}``.
            model: the model id, of the same project.
            traffic: version -> percent, e.g. ``{2: 90, 3: 10}``: versions of the model
                (not deleted), percents 1-100 summing to 100.
            environment: where it runs, e.g. ``prod``: at most 63 characters of
                ``A-Za-z0-9._-``.
            reason: why, kept in the history.

        Example:
            >>> client.create_deployment("translate_kr2en", "prod",
            ...                          model="translate_kr2en", traffic={2: 100})
        """
        request = dr.create_deployment(
            project,
            name,
            model=model,
            traffic=traffic,
            environment=environment,
            description=description,
            labels=labels,
            reason=reason,
            request_id=request_id,
        )
        response = self._rpc.call("CreateDeployment", request, service=PRODUCTION)
        return _convert.deployment(response)

    def get_deployment(self, project: str, name: str, *, at: datetime | None = None) -> Deployment:
        """A deployment now, or as it was at ``at`` (a timezone-aware datetime): its
        traffic, state and environment then. NotFoundError if it did not exist yet."""
        request = prod.GetDeploymentRequest(name=dr.deployment_name(project, name))
        if at is not None:
            request.read_time.CopyFrom(dr.timestamp(at))
        response = self._rpc.call("GetDeployment", request, service=PRODUCTION)
        return _convert.deployment(response)

    def list_deployments(self, project: str, *, model: str | None = None) -> list[Deployment]:
        """A project's deployments, by id; only those of ``model`` if given."""
        request = prod.ListDeploymentsRequest(
            parent=req.project_name(project), model=model or "", page_size=DEFAULT_PAGE_SIZE
        )
        return self._rpc.collect(
            "ListDeployments", request, "deployments", _convert.deployment, service=PRODUCTION
        )

    def set_traffic(
        self,
        project: str,
        name: str,
        traffic: Mapping[int, int],
        *,
        etag: str | None = None,
        reason: str = "",
        request_id: str | None = None,
    ) -> Deployment:
        """Replace the traffic split (version -> percent, summing to 100); kept in the
        history. With ``etag``, only if the deployment has not changed since it was read
        (ConflictError otherwise)."""
        request = dr.set_traffic(project, name, traffic, etag, reason, request_id)
        response = self._rpc.call("SetTraffic", request, service=PRODUCTION)
        return _convert.deployment(response)

    def update_deployment(
        self,
        project: str,
        name: str,
        *,
        state: DeploymentState | str | None = None,
        environment: str | None = None,
        description: str | None = None,
        labels: Mapping[str, str] | None = None,
        etag: str | None = None,
        reason: str = "",
        request_id: str | None = None,
    ) -> Deployment:
        """Change what is given (labels are replaced as a whole). A change of state or
        environment is kept in the history."""
        request = dr.update_deployment(
            project,
            name,
            state=state,
            environment=environment,
            description=description,
            labels=labels,
            etag=etag,
            reason=reason,
            request_id=request_id,
        )
        response = self._rpc.call("UpdateDeployment", request, service=PRODUCTION)
        return _convert.deployment(response)

    def deployment_history(self, project: str, name: str) -> list[DeploymentEvent]:
        """Every change of a deployment, newest first."""
        request = prod.ListDeploymentHistoryRequest(
            name=dr.deployment_name(project, name), page_size=DEFAULT_PAGE_SIZE
        )
        return self._rpc.collect(
            "ListDeploymentHistory",
            request,
            "events",
            _convert.deployment_event,
            service=PRODUCTION,
        )
