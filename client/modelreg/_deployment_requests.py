"""Request builders of the deployment methods, shared by Client and AsyncClient. Each
mutation gets a fresh request_id here, once per logical call, and keeps it across retries."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from modelreg import _convert
from modelreg._deployment_types import DeploymentState
from modelreg._requests import mask, model_name, new_request_id, project_name
from modelreg.api.v1 import production_service_pb2 as prod
from modelreg.api.v1 import resources_pb2 as pb


def deployment_name(project: str, deployment: str) -> str:
    return f"projects/{project}/deployments/{deployment}"


def traffic_to_pb(traffic: Mapping[int, int]) -> list[pb.TrafficSplit]:
    """``{2: 90, 3: 10}`` -> the split's messages, by version."""
    return [pb.TrafficSplit(version=v, percent=p) for v, p in sorted(traffic.items())]


def state_to_pb(state: DeploymentState | str) -> pb.Deployment.State.ValueType:
    member = state if isinstance(state, DeploymentState) else DeploymentState(state.upper())
    return pb.Deployment.State.ValueType(_convert.DEPLOYMENT_STATE.encode(member))


def timestamp(when: datetime) -> Timestamp:
    if when.tzinfo is None:
        raise ValueError(f"{when!r} is naive: give a timezone-aware datetime (e.g. UTC)")
    ts = Timestamp()
    ts.FromDatetime(when)
    return ts


def create_deployment(
    project: str,
    name: str,
    *,
    model: str,
    traffic: Mapping[int, int],
    environment: str,
    description: str,
    labels: Mapping[str, str] | None,
    reason: str,
    request_id: str | None,
) -> prod.CreateDeploymentRequest:
    return prod.CreateDeploymentRequest(
        parent=project_name(project),
        deployment_id=name,
        deployment=pb.Deployment(
            model=model_name(project, model),
            traffic=traffic_to_pb(traffic),
            environment=environment,
            description=description,
            labels=dict(labels or {}),
        ),
        reason=reason,
        request_id=request_id or new_request_id(),
    )


def set_traffic(
    project: str,
    name: str,
    traffic: Mapping[int, int],
    etag: str | None,
    reason: str,
    request_id: str | None,
) -> prod.SetTrafficRequest:
    return prod.SetTrafficRequest(
        name=deployment_name(project, name),
        traffic=traffic_to_pb(traffic),
        etag=etag or "",
        reason=reason,
        request_id=request_id or new_request_id(),
    )


def update_deployment(
    project: str,
    name: str,
    *,
    state: DeploymentState | str | None,
    environment: str | None,
    description: str | None,
    labels: Mapping[str, str] | None,
    etag: str | None,
    reason: str,
    request_id: str | None,
) -> prod.UpdateDeploymentRequest:
    update_mask, given = mask(
        state=state, environment=environment, description=description, labels=labels
    )
    if not given:
        raise ValueError("nothing to update: give state, environment, description or labels")
    deployment = pb.Deployment(
        name=deployment_name(project, name),
        environment=environment or "",
        description=description or "",
        labels=dict(labels or {}),
    )
    if state is not None:
        deployment.state = state_to_pb(state)
    return prod.UpdateDeploymentRequest(
        deployment=deployment,
        update_mask=update_mask,
        etag=etag or "",
        reason=reason,
        request_id=request_id or new_request_id(),
    )
