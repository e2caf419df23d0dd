"""Plain domain types shared by the service and storage layers.

Two kinds live here. What callers send (``NewModelVersion`` and its parts) are
frozen dataclasses, validated by the service. What reads return are *records*:
one row of a resource's read statement (an asyncpg ``Record``, a SQLAlchemy row
mapping, or a ``dict`` decoded from a stored response), described by a
``TypedDict`` whose keys are the statement's column labels. Reads hand records
straight to the transport, which fills protobuf messages from them: no object is
built per row on the way (a test holds each ``TypedDict`` to its statement)."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypedDict, TypeVar

ParamValue = bool | int | float | str
T = TypeVar("T")


class VersionState(enum.Enum):
    READY = "READY"
    ARCHIVED = "ARCHIVED"
    DELETED = "DELETED"


class DataRole(enum.Enum):
    """What a dataset was used for. Not given means TRAIN (the one default)."""

    TRAIN = "TRAIN"
    VALIDATION = "VALIDATION"
    TEST = "TEST"


class AliasEventKind(enum.Enum):
    SET = "SET"
    ROLLBACK = "ROLLBACK"
    DELETE = "DELETE"


# What callers send


@dataclass(frozen=True)
class Artifact:
    uri: str
    sha256: str = ""
    size_bytes: int = 0
    format: str = ""


@dataclass(frozen=True)
class Architecture:
    name: str = ""
    # Canonical JSON text of the configuration object ("" when there is none):
    # sorted keys, compact separators, UTF-8. Stored and returned byte for byte.
    config_json: str = ""


@dataclass(frozen=True)
class DataRef:
    """A reference to a dataset version, as sent: (project, dataset, version), where
    an empty project means the caller's. Resolved by storage/dataset_refs.py."""

    dataset: str
    version: str = ""
    batch_id: str = ""  # ignored on input: the dataset version's batch id is recorded
    role: DataRole = DataRole.TRAIN
    project: str = ""


@dataclass(frozen=True)
class ResolvedRef:
    """A checked reference to an existing dataset version."""

    id: int  # dataset_versions.id
    project: str
    dataset: str
    version: str
    batch_id: str
    role: DataRole

    @property
    def name(self) -> str:
        return f"projects/{self.project}/datasets/{self.dataset}/versions/{self.version}"

    def read_copy(self) -> list[str]:
        """The element of a read copy (data_list, input_list) for this reference."""
        return [self.dataset, self.version, self.batch_id, self.role.value, self.name]


@dataclass(frozen=True)
class CodeVersion:
    repo: str = ""
    commit: str = ""
    dirty: bool = False


@dataclass(frozen=True)
class VersionRef:
    """Addresses one version: `selector` is a number ("3"), an alias, or "latest"."""

    project: str
    model: str
    selector: str


@dataclass(frozen=True)
class NewModelVersion:
    """What a trainer registers; everything but labels and description is immutable."""

    artifact: Artifact
    architecture: Architecture = Architecture()
    params: Mapping[str, ParamValue] = field(default_factory=dict)
    training_data: Sequence[DataRef] = ()
    source_run: str = ""
    code_version: CodeVersion = CodeVersion()
    parent: VersionRef | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    description: str = ""


# What reads return: records


class Project(TypedDict):
    id: int
    name: str
    description: str
    labels: dict[str, str]
    revision: int
    create_time: datetime
    update_time: datetime


class Model(TypedDict):
    id: int
    project_id: int
    project_name: str
    name: str
    description: str
    labels: dict[str, str]
    # The version counter: the next version is version_count + 1.
    version_count: int
    revision: int
    create_time: datetime
    update_time: datetime


class ModelVersion(TypedDict):
    id: int
    model_id: int
    project_name: str
    model_name: str
    version: int
    state: str  # a VersionState value
    description: str
    artifact_uri: str
    artifact_sha256: str
    artifact_size: int
    artifact_format: str
    architecture: str
    architecture_config: str  # canonical JSON text, "" for none
    param_list: list[list[str]]  # [key, kind, exact text] in the order given
    # [dataset, version, batch_id, role, dataset version name] in the order given
    # (no name in responses stored before schema 0004)
    data_list: list[list[str]]
    labels: dict[str, str]
    source_run: str
    code_repo: str
    code_commit: str
    code_dirty: bool
    parent_id: int | None
    parent: list[str] | None  # [project, model, number] of the parent version
    created_by: str
    revision: int
    create_time: datetime
    update_time: datetime
    alias_names: list[str]  # aliases pointing at it, in name order
    run_id: int | None  # the run that produced it (schema 0004)


class Alias(TypedDict):
    model_id: int
    project_name: str
    model_name: str
    alias: str
    version_id: int
    version: int
    updated_by: str
    revision: int
    update_time: datetime


class AliasEvent(TypedDict):
    id: int  # the event's sequence number
    model_id: int
    alias: str
    kind: str  # an AliasEventKind value
    from_version: int | None
    to_version: int | None
    actor: str
    reason: str
    event_time: datetime


@dataclass(frozen=True)
class Page(Generic[T]):
    items: Sequence[T]
    next_page_token: str = ""


@dataclass(frozen=True)
class ListQuery:
    """Page request for a List call; filter and order_by are validated by storage."""

    page_size: int = 0
    page_token: str = ""
    filter: str = ""
    order_by: str = ""
