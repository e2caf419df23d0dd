"""Plain, frozen result types. Times are timezone-aware UTC datetimes."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

ParamValue = bool | int | float | str


class VersionState(str, enum.Enum):
    READY = "READY"
    ARCHIVED = "ARCHIVED"
    DELETED = "DELETED"


class DataRole(str, enum.Enum):
    UNSPECIFIED = "UNSPECIFIED"
    TRAIN = "TRAIN"
    VALIDATION = "VALIDATION"
    TEST = "TEST"


@dataclass(frozen=True)
class Project:
    name: str
    description: str
    labels: Mapping[str, str]
    create_time: datetime
    update_time: datetime
    etag: str

    @property
    def resource_name(self) -> str:
        return f"projects/{self.name}"


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

    @property
    def resource_name(self) -> str:
        return f"projects/{self.project}/models/{self.name}"


@dataclass(frozen=True)
class Artifact:
    uri: str
    sha256: str = ""
    size_bytes: int = 0
    format: str = ""


@dataclass(frozen=True)
class DataRef:
    """Data a version was trained, validated or tested on."""

    dataset: str
    version: str = ""
    batch_id: str = ""
    role: DataRole = DataRole.TRAIN


@dataclass(frozen=True)
class CodeVersion:
    repo: str = ""
    commit: str = ""
    dirty: bool = False


@dataclass(frozen=True)
class ModelVersion:
    project: str
    model: str
    version: int
    display_name: str
    artifact: Artifact
    architecture: str
    architecture_config: Mapping[str, Any]
    params: Mapping[str, ParamValue]
    training_data: tuple[DataRef, ...]
    source_run: str
    code_version: CodeVersion
    parent_version: str
    labels: Mapping[str, str]
    description: str
    state: VersionState
    created_by: str
    create_time: datetime
    update_time: datetime
    etag: str
    aliases: tuple[str, ...] = field(default=())

    @property
    def resource_name(self) -> str:
        return f"projects/{self.project}/models/{self.model}/versions/{self.version}"


@dataclass(frozen=True)
class Alias:
    project: str
    model: str
    alias: str
    version: int
    updated_by: str
    update_time: datetime
    etag: str


class AliasEventKind(str, enum.Enum):
    SET = "SET"
    ROLLBACK = "ROLLBACK"
    DELETE = "DELETE"


@dataclass(frozen=True)
class AliasEvent:
    """One move of an alias. ``from_version``/``to_version`` are None when absent."""

    alias: str
    kind: AliasEventKind
    from_version: int | None
    to_version: int | None
    actor: str
    reason: str
    event_time: datetime
    sequence: int
