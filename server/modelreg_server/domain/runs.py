"""Domain types of runs: what callers send (``NewRun``, metric points) and the
records reads return (``Run``, ``MetricPoint``), as in domain/types.py."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypedDict

from modelreg_server.domain.types import CodeVersion, DataRef, ParamValue


class RunState(enum.Enum):
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


ENDED = (RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED)


# What callers send


@dataclass(frozen=True)
class NewRun:
    """A run as started; params may grow later, the rest of it but labels and
    description is immutable."""

    experiment: str = ""
    params: Mapping[str, ParamValue] = field(default_factory=dict)
    inputs: Sequence[DataRef] = ()
    code_version: CodeVersion = field(default_factory=CodeVersion)
    labels: Mapping[str, str] = field(default_factory=dict)
    description: str = ""


# One logged point as the transport reads it off the wire: (key, step, value,
# time). Plain tuples, since a call carries up to 100,000 of them and they go
# straight into COPY records.
Point = tuple[str, int, float, datetime]


@dataclass(frozen=True)
class RunData:
    """What one LogRunData call appends: metric points and params."""

    points: Sequence[Point] = ()
    params: Mapping[str, ParamValue] = field(default_factory=dict)
    # A digest of the whole request, standing in for it in the request_id check
    # (hashing 100,000 points as JSON would cost more than storing them).
    fingerprint: str = ""


# What reads return: records


class Run(TypedDict):
    id: int
    project_id: int
    project_name: str
    name: str  # the run id
    experiment: str
    state: str  # a RunState value
    start_time: datetime
    end_time: datetime | None
    description: str
    param_list: list[list[str]]  # [key, kind, exact text] in the order set
    # [dataset, version, batch_id, role, dataset version name] in the order given
    input_list: list[list[str]]
    labels: dict[str, str]
    code_repo: str
    code_commit: str
    code_dirty: bool
    created_by: str
    revision: int
    update_time: datetime
    # key -> [value as PostgreSQL's exact text ("NaN", "-Infinity", "0.1"), step,
    # time in microseconds since the epoch]: JSON has no NaN or infinity.
    latest_metrics: dict[str, list[str | int]]
    # [project, model, version number, artifact uri] of the versions it produced,
    # oldest first
    outputs: list[list[str | int]]


class MetricPoint(TypedDict):
    """One point of a metric's history."""

    key: str
    step: int
    id: int  # the order points were logged in
    value: float
    time: datetime
