"""Pure conversions of ProductionService's deployment messages, as convert.py does
for the registry's: names and requests become domain inputs; records fill
responses in place."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from modelreg.api.v1 import resources_pb2 as pb
from modelreg_server.domain import deployments as dd
from modelreg_server.domain import names
from modelreg_server.domain.errors import InvalidArgument
from modelreg_server.service import validation
from modelreg_server.transport import names as parse
from modelreg_server.transport.convert import EPOCH, EnumMap, set_time

STATES = EnumMap(dd.DeploymentState, pb.Deployment.State.DESCRIPTOR)
EVENT_KINDS = EnumMap(dd.DeploymentEventKind, pb.DeploymentEvent.Kind.DESCRIPTOR)
# Stored as the members' values (text columns); the messages carry numbers.
_STATE_NUMBER: dict[str, Any] = {m.value: n for m, n in STATES.to_pb.items()}
_KIND_NUMBER: dict[str, Any] = {m.value: n for m, n in EVENT_KINDS.to_pb.items()}


# Names and requests -> domain


def deployment(name: str, field: str = "name") -> tuple[str, str]:
    """`projects/{p}/deployments/{d}` -> (p, d)."""
    parts = name.split("/")
    if len(parts) != 4 or parts[0] != "projects" or parts[2] != "deployments":
        raise InvalidArgument(
            field, f"expected projects/{{project}}/deployments/{{deployment}}, got "
            f"{validation.shown(name)}",
        )  # fmt: skip
    validation.name(parts[1], field, "project")
    validation.name(parts[3], field, "deployment")
    return parts[1], parts[3]


def split(traffic: Iterable[pb.TrafficSplit]) -> dd.Split:
    return tuple((t.version, t.percent) for t in traffic)


def state(number: int, field: str) -> dd.DeploymentState:
    member: dd.DeploymentState = STATES.parse(number, field)
    return member


def new_deployment(msg: pb.Deployment, project: str, field: str = "deployment") -> dd.NewDeployment:
    """The deployment to create in ``project``; its model must be of that project."""
    model = ""
    if msg.model:
        model_project, model = parse.model(msg.model, f"{field}.model")
        if model_project != project:
            raise InvalidArgument(
                f"{field}.model",
                f"must be a model of {names.project_name(project)}, got "
                f"{validation.shown(msg.model)}",
            )
    return dd.NewDeployment(
        model=model,
        traffic=split(msg.traffic),
        environment=msg.environment,
        state=(
            dd.DeploymentState.ACTIVE
            if msg.state == pb.Deployment.STATE_UNSPECIFIED
            else state(msg.state, f"{field}.state")
        ),
        description=msg.description,
        labels=dict(msg.labels),
    )


def read_time(msg: Any, field: str = "read_time") -> datetime | None:
    """The request's ``field`` as a UTC datetime, None when it is unset."""
    if not msg.HasField(field):
        return None
    ts: Timestamp = getattr(msg, field)
    try:
        return EPOCH + timedelta(seconds=ts.seconds, microseconds=ts.nanos // 1_000)
    except OverflowError:
        raise InvalidArgument(field, "out of range (years 1 to 9999)") from None


# Records -> responses


def _fill_traffic(traffic: Any, pairs: list[list[int]]) -> None:
    for version, percent in pairs:
        t = traffic.add()
        t.version = version
        t.percent = percent


def fill_deployment(msg: pb.Deployment, r: dd.Deployment) -> pb.Deployment:
    project, deployment_id = r["project_name"], r["name"]
    msg.name = dd.deployment_name(project, deployment_id)
    msg.deployment_id = deployment_id
    msg.model = names.model_name(project, r["model_name"])
    msg.environment = r["environment"]
    _fill_traffic(msg.traffic, r["traffic"])
    msg.state = _STATE_NUMBER[r["state"]]
    msg.description = r["description"]
    msg.labels.update(r["labels"])
    msg.created_by = r["created_by"]
    set_time(msg.create_time, r["create_time"])
    msg.updated_by = r["updated_by"]
    set_time(msg.update_time, r["update_time"])
    if r["revision"]:
        msg.etag = names.etag(r["revision"])
    return msg


def fill_event(msg: pb.DeploymentEvent, r: dd.DeploymentEvent) -> pb.DeploymentEvent:
    msg.kind = _KIND_NUMBER[r["kind"]]
    _fill_traffic(msg.traffic, r["traffic"])
    msg.state = _STATE_NUMBER[r["state"]]
    msg.environment = r["environment"]
    msg.actor = r["actor"]
    msg.reason = r["reason"]
    set_time(msg.event_time, r["event_time"])
    msg.sequence = r["id"]
    return msg
