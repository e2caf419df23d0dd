"""Domain types of pipelines: what callers send (``NewPipelineRun``, ``NewStep``
with its ``StepRef``s) and the records reads return (``PipelineRun`` with its
steps, ``Pipeline``), as in domain/types.py."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypedDict

from modelreg_server.domain.types import ParamValue

MAX_DEFINITION_VERSION = 256
MAX_REFS = 1_000
MAX_ROLE = 64
MAX_ERROR = 10_000
# FailedPrecondition reasons.
PIPELINE_RUN_ENDED = "PIPELINE_RUN_ENDED"
STEP_ENDED = "STEP_ENDED"
PIPELINE_STEP_FAILED = "PIPELINE_STEP_FAILED"
# InvalidArgument reason of an output that would close a cycle.
LINEAGE_CYCLE = "LINEAGE_CYCLE"


class PipelineRunState(enum.Enum):
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


class StepState(enum.Enum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"


ENDED_RUN = (PipelineRunState.SUCCEEDED, PipelineRunState.FAILED, PipelineRunState.CANCELLED)
ENDED_STEP = (StepState.SUCCEEDED, StepState.FAILED, StepState.SKIPPED)


def pipeline_name(project: str, pipeline: str) -> str:
    return f"projects/{project}/pipelines/{pipeline}"


def pipeline_run_name(project: str, pipeline: str, run: str) -> str:
    return f"projects/{project}/pipelines/{pipeline}/runs/{run}"


def step_name(project: str, pipeline: str, run: str, step: str) -> str:
    return f"projects/{project}/pipelines/{pipeline}/runs/{run}/steps/{step}"


# What callers send


@dataclass(frozen=True)
class NewPipelineRun:
    """A pipeline run as created; all of it is immutable but labels and description."""

    definition_version: str = ""
    params: Mapping[str, ParamValue] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    description: str = ""


@dataclass(frozen=True)
class StepRef:
    """A reference as sent: a resource name, the kind the caller says it is (a
    ResourceKind name, "" to infer it) and a free-text role."""

    name: str
    kind: str = ""
    role: str = ""


@dataclass(frozen=True)
class NewStep:
    """One RecordPipelineStep call's step (times None: the server's clock)."""

    state: StepState
    start_time: datetime | None = None
    end_time: datetime | None = None
    params: Mapping[str, ParamValue] = field(default_factory=dict)
    inputs: Sequence[StepRef] = ()
    outputs: Sequence[StepRef] = ()
    error: str = ""


# What reads return: records


class StepRecord(TypedDict):
    """One step as a run record holds it (JSON built in SQL: times are
    microseconds since the epoch, None when unset)."""

    step_id: str
    position: int
    state: str  # a StepState value
    start_us: int | None
    end_us: int | None
    param_list: list[list[str]]  # [key, kind, exact text] in the order given
    error: str
    update_us: int
    # [name, kind (a ResourceKind name: BATCH for a dataset version with a batch
    # id), role] in the order given; references to resources deleted since are left out
    inputs: list[list[str]]
    outputs: list[list[str]]


class PipelineRun(TypedDict):
    id: int
    pipeline_id: int
    project_id: int
    project_name: str
    pipeline_name: str
    name: str  # the run id
    definition_version: str
    state: str  # a PipelineRunState value
    start_time: datetime
    end_time: datetime | None  # set by EndPipelineRun: the run has ended
    param_list: list[list[str]]
    labels: dict[str, str]
    description: str
    error: str
    created_by: str
    revision: int
    update_time: datetime
    steps: list[StepRecord]  # by position


class Pipeline(TypedDict):
    id: int
    project_id: int
    project_name: str
    name: str
    run_count: int
    latest_run: str | None  # the newest run's id
    create_time: datetime
    update_time: datetime
