"""Domain types of datasets, evaluations, comparing and ranking (the tracking
family's part that is not runs): what callers send, as frozen dataclasses, and
what reads return, as records (see domain/types.py)."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypedDict

from modelreg_server.domain.types import ModelVersion

# What callers send


@dataclass(frozen=True)
class DatasetVersionRef:
    """Names one dataset version: (project, dataset, version id)."""

    project: str
    dataset: str
    version: str


@dataclass(frozen=True)
class RunRef:
    """Names one run: (project, run id)."""

    project: str
    run: str


@dataclass(frozen=True)
class NewDatasetVersion:
    uri: str
    digest: str = ""
    row_count: int | None = None
    schema_json: str = ""  # canonical JSON text, "" for none
    description: str = ""
    split: str = ""
    batch_id: str = ""
    data_start_time: datetime | None = None
    data_end_time: datetime | None = None
    parents: Sequence[DatasetVersionRef] = ()
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class NewEvaluation:
    dataset_version: DatasetVersionRef | None
    slice: str = ""
    metrics: Mapping[str, float] = field(default_factory=dict)
    run: RunRef | None = None
    labels: Mapping[str, str] = field(default_factory=dict)


class Goal(enum.Enum):
    MAXIMIZE = "MAXIMIZE"
    MINIMIZE = "MINIMIZE"


@dataclass(frozen=True)
class RankQuery:
    """A ranking: of the versions of ``model`` (or of every model of ``project``
    when ``model`` is empty) by ``metric`` on a dataset version and slice."""

    project: str
    model: str
    metric: str
    dataset_version: DatasetVersionRef
    slice: str
    goal: Goal
    filter: str = ""
    page_size: int = 0
    page_token: str = ""


# What reads return: records


class Dataset(TypedDict):
    id: int
    project_id: int
    project_name: str
    name: str
    version_count: int
    create_time: datetime
    update_time: datetime


class DatasetVersion(TypedDict):
    id: int
    dataset_id: int
    project_name: str
    dataset_name: str
    version: str
    uri: str
    digest: str
    row_count: int | None
    schema_json: str  # canonical JSON text, "" for none
    description: str
    split: str
    batch_id: str
    data_start_time: datetime | None
    data_end_time: datetime | None
    parent_list: list[str]  # parent resource names in the order given
    labels: dict[str, str]
    created_by: str
    create_time: datetime


class Evaluation(TypedDict):
    id: int
    version_id: int
    project_name: str
    model_name: str
    version: int  # the model version's number
    evaluation_id: str
    dataset_version_id: int
    dataset_version_name: str
    slice: str
    metrics: dict[str, float]
    run_id: int | None
    run_name: str | None
    labels: dict[str, str]
    created_by: str
    create_time: datetime


class RankedVersion(ModelVersion):
    """A version record (its model's name from the row, not the call) with its
    score and the id of the evaluation the score comes from."""

    score: float
    evaluation: str


# Comparing: built from records, not a read statement of its own


@dataclass(frozen=True)
class ComparedParam:
    key: str
    values: Sequence[tuple[str, str] | None]  # (kind, exact text) per version, None: missing
    differs: bool


@dataclass(frozen=True)
class MetricCell:
    value: float
    evaluation: str  # resource name


@dataclass(frozen=True)
class ComparedMetric:
    dataset_version: str  # resource name
    slice: str
    metric: str
    cells: Sequence[MetricCell | None]  # per version, None: no score


@dataclass(frozen=True)
class Comparison:
    versions: Sequence[ModelVersion]
    params: Sequence[ComparedParam]
    metrics: Sequence[ComparedMetric]
