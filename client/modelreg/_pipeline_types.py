"""Result types of pipelines: pipeline runs made of steps, each with what it read and what it
made. Frozen, protobuf-free; times are timezone-aware UTC datetimes."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from modelreg._lineage_types import ResourceKind
from modelreg._types import ParamValue

# ResourceKind is lineage's (_lineage_types), shared by step references.
__all__ = [
    "Pipeline",
    "PipelineRun",
    "PipelineRunState",
    "PipelineStep",
    "PipelineStepState",
    "ResourceKind",
    "ResourceRef",
]


class PipelineRunState(str, enum.Enum):
    """Lifecycle of a pipeline run: RUNNING until ended. FAILED once a step failed."""

    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


class PipelineStepState(str, enum.Enum):
    """Lifecycle of a step; only a SUCCEEDED step has outputs."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"


@dataclass(frozen=True)
class ResourceRef:
    """A resource a pipeline step read or made, by resource name (a dataset version, run,
    model version, evaluation or deployment, in any project). ``kind`` is inferred from the
    name when None (always set on what the server returns); ``role`` is free text saying
    what it was for, e.g. ``train`` or ``holdout``."""

    name: str
    kind: ResourceKind | None = None
    role: str = ""

    @property
    def resource_name(self) -> str:
        return self.name


@dataclass(frozen=True)
class PipelineStep:
    """One step of a pipeline run. ``name`` is its resource name,
    ``projects/{p}/pipelines/{pl}/runs/{r}/steps/{step_id}``; ``error`` says why it failed
    or was skipped; ``position`` is its place in the run (by when it was first recorded)."""

    name: str
    step_id: str
    state: PipelineStepState
    start_time: datetime | None
    end_time: datetime | None
    params: Mapping[str, ParamValue]
    inputs: tuple[ResourceRef, ...]
    outputs: tuple[ResourceRef, ...]
    error: str
    position: int
    update_time: datetime

    @property
    def resource_name(self) -> str:
        return self.name

    @property
    def duration_s(self) -> float | None:
        """Seconds from start to end; None until the step has both."""
        if self.start_time is None or self.end_time is None:
            return None
        return (self.end_time - self.start_time).total_seconds()


@dataclass(frozen=True)
class PipelineRun:
    """One execution of a pipeline, versioned with its definition (``definition_version``,
    e.g. ``git:ab12cd``) so reruns compare; its steps by position. ``error`` says why it
    failed: ``step {id}: {error}`` of the first failed step, or the error it was ended with."""

    project: str
    pipeline: str
    run_id: str
    definition_version: str
    state: PipelineRunState
    start_time: datetime
    end_time: datetime | None
    params: Mapping[str, ParamValue]
    labels: Mapping[str, str]
    description: str
    error: str
    steps: tuple[PipelineStep, ...]
    created_by: str
    update_time: datetime
    etag: str

    @property
    def resource_name(self) -> str:
        return f"projects/{self.project}/pipelines/{self.pipeline}/runs/{self.run_id}"

    @property
    def duration_s(self) -> float | None:
        """Seconds from start to end; None while the run is open."""
        return None if self.end_time is None else (self.end_time - self.start_time).total_seconds()

    def step(self, step_id: str) -> PipelineStep:
        """The step ``step_id``; KeyError if the run has none."""
        for s in self.steps:
            if s.step_id == step_id:
                return s
        raise KeyError(f"{self.resource_name} has no step {step_id!r}")


@dataclass(frozen=True)
class Pipeline:
    """The runs of one pipeline definition name in a project."""

    project: str
    name: str
    run_count: int
    latest_run: str
    create_time: datetime
    update_time: datetime

    @property
    def resource_name(self) -> str:
        return f"projects/{self.project}/pipelines/{self.name}"
