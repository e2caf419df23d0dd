"""Plain, frozen result types. Times are timezone-aware UTC datetimes.

``ModelVersion`` may be built lazily (see ``Lazy``): listing hundreds of versions then costs
one small object each, and a field is converted from the wire message the first time it is
read. This module knows nothing of protobuf: the converters are handed in by ``_convert``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from datetime import datetime
from typing import Any, ClassVar, TypeVar

ParamValue = bool | int | float | str
T = TypeVar("T")
Converters = Mapping[str, Callable[[Any], Any]]


class Lazy:
    """Base of a frozen dataclass whose fields may be converted on first read.

    An instance made by ``lazy_constructor`` holds its source (a wire message) and the
    converters in a slot, outside ``__dict__``; reading a field not yet in ``__dict__``
    converts it and caches it there, where later reads find it at plain attribute speed
    (the fields are non-data descriptors, like ``functools.cached_property``). An instance
    made by the dataclass ``__init__`` has every field in ``__dict__`` and never converts.
    Equality, ``repr``, ``dataclasses.asdict``/``replace`` read the fields, so they see the
    same values either way; pickling and copying materialise every field first.

    Two threads reading an unconverted field may both convert it: each gets an equal value
    and one of them is kept. The source is never mutated.
    """

    __slots__ = ("_lazy_source",)
    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]
    _lazy_source: tuple[object, Converters]

    def __getstate__(self) -> dict[str, Any]:
        # The fields only: an unpickled or copied instance is an ordinary eager one.
        return {f.name: getattr(self, f.name) for f in fields(self)}


class _LazyField:
    """A dataclass field of a ``Lazy`` class: converted from the source on first read."""

    __slots__ = ("default", "name")

    def __init__(self, f: Field[Any]) -> None:
        self.name = f.name
        self.default = f.default

    def __get__(self, instance: Lazy | None, owner: type[Any]) -> Any:
        if instance is None:
            # As on a plain dataclass: the class attribute is the default, if any.
            if self.default is MISSING:
                raise AttributeError(self.name)
            return self.default
        source, converters = instance._lazy_source
        value = converters[self.name](source)
        instance.__dict__[self.name] = value
        return value


def lazy_fields(cls: type[T]) -> type[T]:
    """Class decorator, above ``@dataclass(frozen=True)`` on a ``Lazy`` subclass."""
    if not issubclass(cls, Lazy) or "__slots__" in vars(cls):
        raise TypeError(f"{cls.__name__} must be a Lazy dataclass without __slots__")
    for f in fields(cls):
        setattr(cls, f.name, _LazyField(f))
    return cls


def lazy_constructor(cls: type[T], converters: Converters) -> Callable[[Any], T]:
    """A function making a lazy ``cls`` from a source; ``converters`` has one entry per field."""
    if not issubclass(cls, Lazy):
        raise TypeError(f"{cls.__name__} is not Lazy")
    names = sorted(f.name for f in fields(cls))
    if sorted(converters) != names:
        raise TypeError(f"{cls.__name__}: converters for {sorted(converters)}, fields {names}")
    new = object.__new__
    set_source = vars(Lazy)["_lazy_source"].__set__  # the slot, past the frozen __setattr__

    def make(source: Any) -> T:
        obj = new(cls)
        set_source(obj, (source, converters))
        return obj

    return make


class VersionState(str, enum.Enum):
    READY = "READY"
    ARCHIVED = "ARCHIVED"
    DELETED = "DELETED"


class DataRole(str, enum.Enum):
    """What a version did with a dataset; ``DataRef.role`` defaults to TRAIN."""

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
    """A dataset version a model version was trained, validated or tested on, or a run read.

    Name it by ``dataset_version`` (its resource name,
    ``projects/{p}/datasets/{d}/versions/{v}``) or by ``dataset`` and ``version`` (in the
    caller's project); the server fills in the rest when it reads the reference back.
    ``batch_id`` is output only.
    """

    dataset: str = ""
    version: str = ""
    batch_id: str = ""
    role: DataRole = DataRole.TRAIN
    dataset_version: str = ""


@dataclass(frozen=True)
class CodeVersion:
    repo: str = ""
    commit: str = ""
    dirty: bool = False


@lazy_fields
@dataclass(frozen=True)
class ModelVersion(Lazy):
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
