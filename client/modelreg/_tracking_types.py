"""Result types of experiment tracking: datasets, runs and their metrics, evaluations,
comparisons and rankings. Frozen, protobuf-free; times are timezone-aware UTC datetimes."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeAlias

from modelreg._types import (
    CodeVersion,
    DataRef,
    DataRole,
    Lazy,
    ModelVersion,
    ParamValue,
    lazy_fields,
)


class Named(Protocol):
    """Anything with a resource name: DatasetVersion, ModelVersion, Run, an active run."""

    @property
    def resource_name(self) -> str: ...


class RunState(str, enum.Enum):
    """Lifecycle of a run: RUNNING until it is ended with one of the other three."""

    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


class Goal(str, enum.Enum):
    """Which way a metric is better. ``Goal("max")``, ``Goal("minimize")`` and the
    members' names (any case) are accepted."""

    MAXIMIZE = "MAXIMIZE"
    MINIMIZE = "MINIMIZE"

    @classmethod
    def _missing_(cls, value: object) -> Goal | None:
        text = str(value).strip().upper()
        return {"MAX": cls.MAXIMIZE, "MIN": cls.MINIMIZE}.get(text) or cls.__members__.get(text)


@dataclass(frozen=True)
class Dataset:
    """A named line of dataset versions in a project, made by its first version."""

    project: str
    name: str
    version_count: int
    create_time: datetime
    update_time: datetime

    @property
    def resource_name(self) -> str:
        return f"projects/{self.project}/datasets/{self.name}"


@dataclass(frozen=True)
class DatasetVersion:
    """One immutable version of a dataset; a data batch is one with a ``batch_id``.

    Pass it (or its ``resource_name``) wherever a dataset version is wanted: a run's
    ``inputs``, a version's ``training_data``, ``dataset=`` of evaluations and rankings.
    """

    project: str
    dataset: str
    version: str
    uri: str
    digest: str
    row_count: int | None
    schema: Mapping[str, Any] | None
    description: str
    split: str
    batch_id: str
    data_start_time: datetime | None
    data_end_time: datetime | None
    parents: tuple[str, ...]
    labels: Mapping[str, str]
    created_by: str
    create_time: datetime

    @property
    def resource_name(self) -> str:
        return f"projects/{self.project}/datasets/{self.dataset}/versions/{self.version}"


# What ``inputs=`` and ``training_data=`` accept, item by item: a DataRef; a DatasetVersion
# or its resource name (role TRAIN); a (dataset version, role) pair; a dict of DataRef fields.
DataInput: TypeAlias = (
    "DataRef | DatasetVersion | str | tuple[Named | str, DataRole | str] | Mapping[str, Any]"
)


@dataclass(frozen=True)
class Metric:
    """One point of a metric series. ``value`` may be NaN or an infinity (kept exactly).
    ``time`` is when it was measured (None only on points you build to log)."""

    key: str
    value: float
    step: int = 0
    time: datetime | None = None


@dataclass(frozen=True)
class RunOutput:
    """A model version a run produced."""

    model_version: str
    display_name: str
    artifact_uri: str


@lazy_fields
@dataclass(frozen=True)
class Run(Lazy):
    """One training iteration: a row of the experiment table.

    ``latest_metrics`` holds each key's latest point (highest step, last logged among
    equal steps); ``outputs`` the model versions registered with this run as their
    ``source_run``, oldest first.
    """

    project: str
    run_id: str
    experiment: str
    state: RunState
    start_time: datetime
    end_time: datetime | None
    params: Mapping[str, ParamValue]
    inputs: tuple[DataRef, ...]
    code_version: CodeVersion
    labels: Mapping[str, str]
    latest_metrics: Mapping[str, Metric]
    outputs: tuple[RunOutput, ...]
    description: str
    created_by: str
    update_time: datetime
    etag: str

    @property
    def resource_name(self) -> str:
        return f"projects/{self.project}/runs/{self.run_id}"


@dataclass(frozen=True)
class Evaluation:
    """The metrics of one model version on one dataset version (and slice)."""

    project: str
    model: str
    version: int
    evaluation_id: str
    dataset_version: str
    slice: str
    metrics: Mapping[str, float]
    run: str
    labels: Mapping[str, str]
    created_by: str
    create_time: datetime

    @property
    def resource_name(self) -> str:
        return (
            f"projects/{self.project}/models/{self.model}/versions/{self.version}"
            f"/evaluations/{self.evaluation_id}"
        )


@dataclass(frozen=True)
class ComparedParam:
    """One param across compared versions: one value per version, None where the version
    has no such param; ``differs`` when they are not all the same."""

    key: str
    values: tuple[ParamValue | None, ...]
    differs: bool


@dataclass(frozen=True)
class ComparedMetric:
    """One metric on one dataset version (and slice) across compared versions: one value
    per version (None where it has no evaluation with it), and the evaluation each value
    comes from ("" where none)."""

    dataset_version: str
    slice: str
    metric: str
    values: tuple[float | None, ...]
    evaluations: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class VersionComparison:
    """Versions side by side, in the order asked for."""

    versions: tuple[ModelVersion, ...]
    params: tuple[ComparedParam, ...]
    metrics: tuple[ComparedMetric, ...]

    @property
    def differing_params(self) -> tuple[str, ...]:
        """The keys of the params whose values differ, by key."""
        return tuple(p.key for p in self.params if p.differs)


@dataclass(frozen=True)
class RankedVersion:
    """One row of a ranking: ``rank`` 1 is the best; ``score`` is the metric in the
    version's latest evaluation on the dataset version, ``evaluation`` that evaluation."""

    rank: int
    score: float
    evaluation: str
    version: ModelVersion
