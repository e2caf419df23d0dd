"""Domain types of deployments: what callers send (``NewDeployment``, a traffic
split) and the records reads return (``Deployment``, ``DeploymentEvent``), as in
domain/types.py."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypedDict


class DeploymentState(enum.Enum):
    ACTIVE = "ACTIVE"
    PAUSED = "PAUSED"
    RETIRED = "RETIRED"


class DeploymentEventKind(enum.Enum):
    CREATE = "CREATE"
    TRAFFIC = "TRAFFIC"
    STATE = "STATE"
    UPDATE = "UPDATE"


def deployment_name(project: str, deployment: str) -> str:
    return f"projects/{project}/deployments/{deployment}"


# A traffic split as sent: (version, percent) pairs in the caller's order (errors
# name their index); stored and returned by version.
Split = tuple[tuple[int, int], ...]


# What callers send


@dataclass(frozen=True)
class NewDeployment:
    """A deployment as created: ``model`` is the model id of the deployment's project."""

    model: str
    traffic: Split
    environment: str = ""
    state: DeploymentState = DeploymentState.ACTIVE
    description: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DeploymentChange:
    """What UpdateDeployment changes: the fields its update_mask names (None: unchanged)."""

    state: DeploymentState | None = None
    environment: str | None = None
    description: str | None = None
    labels: Mapping[str, str] | None = None


# What reads return: records


class Deployment(TypedDict):
    id: int
    project_id: int
    model_id: int
    project_name: str
    model_name: str
    name: str  # the deployment id
    environment: str
    state: str  # a DeploymentState value
    traffic: list[list[int]]  # [[version, percent], ...] by version
    description: str
    labels: dict[str, str]
    created_by: str
    updated_by: str
    # The etag's counter; 0 for a deployment read as it was at a past time (no etag:
    # a past state is no base for a conditional change).
    revision: int
    create_time: datetime
    update_time: datetime


class DeploymentEvent(TypedDict):
    id: int  # the event's sequence number
    deployment_id: int
    kind: str  # a DeploymentEventKind value
    traffic: list[list[int]]  # the split after the change
    state: str  # the state after the change
    environment: str  # the environment after the change
    actor: str
    reason: str
    event_time: datetime
