"""Plain domain types shared by the service and storage layers."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

ParamValue = bool | int | float | str
T = TypeVar("T")


class VersionState(enum.Enum):
    READY = "READY"
    ARCHIVED = "ARCHIVED"
    DELETED = "DELETED"


class DataRole(enum.Enum):
    UNSPECIFIED = "UNSPECIFIED"
    TRAIN = "TRAIN"
    VALIDATION = "VALIDATION"
    TEST = "TEST"


class AliasEventKind(enum.Enum):
    SET = "SET"
    ROLLBACK = "ROLLBACK"
    DELETE = "DELETE"


@dataclass(frozen=True)
class Artifact:
    uri: str
    sha256: str = ""
    size_bytes: int = 0
    format: str = ""


@dataclass(frozen=True)
class Architecture:
    name: str = ""
    config: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DataRef:
    dataset: str
    version: str = ""
    batch_id: str = ""
    role: DataRole = DataRole.UNSPECIFIED


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
class Project:
    name: str
    description: str
    labels: Mapping[str, str]
    create_time: datetime
    update_time: datetime
    etag: str


@dataclass(frozen=True)
class Model:
    project: str
    name: str
    description: str
    labels: Mapping[str, str]
    version_count: int
    create_time: datetime
    update_time: datetime
    etag: str


@dataclass(frozen=True)
class NewModelVersion:
    """What a trainer registers; everything here is immutable once stored."""

    artifact: Artifact
    architecture: Architecture = Architecture()
    params: Mapping[str, ParamValue] = field(default_factory=dict)
    training_data: Sequence[DataRef] = ()
    source_run: str = ""
    code_version: CodeVersion = CodeVersion()
    parent: VersionRef | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    description: str = ""


@dataclass(frozen=True)
class ModelVersion:
    project: str
    model: str
    version: int
    artifact: Artifact
    architecture: Architecture
    params: Mapping[str, ParamValue]
    training_data: Sequence[DataRef]
    source_run: str
    code_version: CodeVersion
    parent: VersionRef | None
    labels: Mapping[str, str]
    description: str
    state: VersionState
    created_by: str
    create_time: datetime
    update_time: datetime
    etag: str
    aliases: Sequence[str] = ()

    @property
    def display_name(self) -> str:
        return f"{self.model}_v{self.version}"


@dataclass(frozen=True)
class Alias:
    project: str
    model: str
    alias: str
    version: int
    updated_by: str
    update_time: datetime
    etag: str


@dataclass(frozen=True)
class AliasEvent:
    alias: str
    from_version: int | None
    to_version: int | None
    actor: str
    reason: str
    event_time: datetime
    sequence: int
    kind: AliasEventKind


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
