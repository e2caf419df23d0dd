"""Result types of deployments: a model served in an environment, its traffic split over
versions, and the history of its changes. Frozen, protobuf-free; times are timezone-aware
UTC datetimes."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime


class DeploymentState(str, enum.Enum):
    """Lifecycle of a deployment: ACTIVE serves its split, PAUSED keeps it without
    serving, RETIRED is taken down (and may be made ACTIVE again)."""

    ACTIVE = "ACTIVE"
    PAUSED = "PAUSED"
    RETIRED = "RETIRED"


class DeploymentEventKind(str, enum.Enum):
    """What one change of a deployment changed."""

    CREATE = "CREATE"
    TRAFFIC = "TRAFFIC"
    STATE = "STATE"
    UPDATE = "UPDATE"


@dataclass(frozen=True)
class Deployment:
    """A model served in an environment: ``traffic`` maps version -> percent (summing to
    100), by version. Read as it was at a past time, ``etag`` is empty."""

    project: str
    deployment_id: str
    model: str  # the model id, of the same project
    environment: str
    traffic: Mapping[int, int]
    state: DeploymentState
    description: str
    labels: Mapping[str, str]
    created_by: str
    create_time: datetime
    updated_by: str
    update_time: datetime
    etag: str

    @property
    def resource_name(self) -> str:
        return f"projects/{self.project}/deployments/{self.deployment_id}"


@dataclass(frozen=True)
class DeploymentEvent:
    """One change of a deployment, with its traffic, state and environment after it."""

    kind: DeploymentEventKind
    traffic: Mapping[int, int]
    state: DeploymentState
    environment: str
    actor: str
    reason: str
    event_time: datetime
    sequence: int
