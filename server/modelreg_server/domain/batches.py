"""Domain types of the batch-learning queries: what a query asks, as frozen
dataclasses, and what it returns, as records (see domain/types.py).

A data batch is a dataset version with a batch id. A model version learned
from a batch when the batch is in its training data (any role), or, through
incremental training, in that of a version it was fine-tuned from
(``parent_version``), transitively; ``generations`` counts the parent links
between the two."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TypedDict

from modelreg_server.domain.datasets import DatasetVersion, DatasetVersionRef
from modelreg_server.domain.types import ModelVersion

# How far the transitive queries follow parent links, and how many rows they
# return at most: a bound on the work of one call, far beyond real chains.
MAX_ROWS = 10_000


# What callers send


@dataclass(frozen=True)
class TrainedOnQuery:
    """The versions of ``project``'s models that learned from a batch, named by its
    batch id (every dataset version of the project with it) or by one dataset
    version (in any project)."""

    project: str
    batch_id: str = ""
    dataset_version: DatasetVersionRef | None = None
    direct_only: bool = False
    page_size: int = 0
    page_token: str = ""


@dataclass(frozen=True)
class SeriesQuery:
    """A metric of the versions of a model, placed at the batch each trained on:
    from their latest evaluation on ``dataset_version`` (and ``slice``), or, with
    none, from their source runs' latest metrics."""

    project: str
    model: str
    metric: str
    dataset_version: DatasetVersionRef | None = None
    slice: str = ""


# What reads return: records


class Batch(DatasetVersion):
    """A dataset version record with the number of (not deleted) model versions
    that have it in their own training data."""

    model_version_count: int


class TrainedVersion(ModelVersion):
    """A version record (its model's and project's names from the row) that
    learned from a batch."""

    batch: list[str]  # [project, dataset, version] of the batch's dataset version
    dataset_version_id: int
    role: str  # a DataRole value: how the batch was used, by the version or by `via`
    generations: int  # parent links from the version to `via` (0: it trained on it)
    via: list[str] | None  # [project, model, number] of the ancestor; None when direct


class BatchBehind(DatasetVersion):
    """A dataset version record behind a model version."""

    role: str  # a DataRole value
    trained_by: list[str]  # [project, model, number] of the version that trained on it
    generations: int  # parent links from the version asked for to `trained_by`
    cut: bool  # the parent chain goes on beyond MAX_ROWS generations


class BatchPoint(TypedDict):
    """One version of the series at its newest training batch."""

    batch: list[str]  # [project, dataset, version] of the batch's dataset version
    batch_id: str
    data_start_time: datetime | None
    data_end_time: datetime | None
    project_name: str
    model_name: str
    version: int
    value: float | None
