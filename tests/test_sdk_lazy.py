"""A lazily converted ModelVersion is a genuine frozen dataclass that behaves exactly like
one built eagerly from the same message; only the moment of conversion differs."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import threading
from collections.abc import Callable
from typing import Any

import pytest

import modelreg
from modelreg import _convert, _types
from modelreg.api.v1 import resources_pb2 as pb
from tests.sentinels import sentinel

FIELDS = [f.name for f in dataclasses.fields(modelreg.ModelVersion)]


def message() -> pb.ModelVersion:
    msg = sentinel(pb.ModelVersion)
    assert isinstance(msg, pb.ModelVersion)
    return msg


def lazy(msg: pb.ModelVersion | None = None) -> modelreg.ModelVersion:
    return _convert.model_version(msg or message())


def eager(msg: pb.ModelVersion | None = None) -> modelreg.ModelVersion:
    """Every field converted now, through the dataclass __init__."""
    msg = msg or message()
    return modelreg.ModelVersion(
        **{name: convert(msg) for name, convert in _convert.MODEL_VERSION_FIELDS.items()}
    )


def test_lazy_instance_is_a_plain_model_version() -> None:
    v = lazy()
    assert type(v) is modelreg.ModelVersion
    assert isinstance(v, modelreg.ModelVersion)
    assert dataclasses.is_dataclass(v)
    assert [f.name for f in dataclasses.fields(v)] == FIELDS
    assert v.__dataclass_params__.frozen  # type: ignore[attr-defined]


# Each operation on a fresh, never-read lazy instance gives what it gives on an eager one.
OPERATIONS: dict[str, Callable[[modelreg.ModelVersion], Any]] = {
    "eq": lambda v: v == eager(),
    "eq reflected": lambda v: eager() == v,
    "ne other": lambda v: v != dataclasses.replace(eager(), description="other"),
    "repr": repr,
    "str": str,
    "asdict": dataclasses.asdict,
    "astuple": dataclasses.astuple,
    "replace": lambda v: dataclasses.replace(v, description="changed"),
    "copy": copy.copy,
    "deepcopy": copy.deepcopy,
    "resource_name": lambda v: v.resource_name,
    "getattr each": lambda v: [getattr(v, name) for name in FIELDS],
    "match_args": lambda v: v.__match_args__,
    **{
        f"pickle protocol {p}": (lambda v, p=p: pickle.loads(pickle.dumps(v, protocol=p)))
        for p in range(pickle.HIGHEST_PROTOCOL + 1)
    },
}


@pytest.mark.parametrize("operation", OPERATIONS)
def test_lazy_and_eager_give_the_same_results(operation: str) -> None:
    run = OPERATIONS[operation]
    assert run(lazy()) == run(eager())


def test_lazy_equals_eager_field_by_field_and_after_partial_reads() -> None:
    e = eager()
    for name in FIELDS:
        v = lazy()
        getattr(v, name)  # one field converted, the rest not yet
        assert v == e
        assert repr(v) == repr(e)


def test_pickled_and_copied_lazy_instances_are_eager_ones() -> None:
    v = lazy()
    for twin in (pickle.loads(pickle.dumps(v)), copy.copy(v), copy.deepcopy(v)):
        assert twin == eager()
        assert vars(twin) == vars(eager())  # every field materialised, no message inside
    assert pickle.dumps(lazy()) == pickle.dumps(eager())


def test_hash_behaves_the_same() -> None:
    # A version holds dicts (labels, params): neither form is hashable.
    for v in (lazy(), eager()):
        with pytest.raises(TypeError, match="unhashable"):
            hash(v)


def test_lazy_instance_is_frozen() -> None:
    v = lazy()
    for name in ("description", "state", "not_a_field"):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(v, name, "x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        del v.description
    # ...the same after the fields were read and cached.
    assert v == eager()
    with pytest.raises(dataclasses.FrozenInstanceError):
        v.description = "x"
    assert v.description == eager().description


def test_fields_are_converted_once_on_first_read() -> None:
    v = lazy()
    assert vars(v) == {}
    params = v.params
    assert vars(v) == {"params": params}
    assert v.params is params  # cached
    assert v == eager()
    assert vars(v) == vars(eager())


def test_a_field_is_not_converted_until_read() -> None:
    msg = message()
    msg.state = 42  # a state this SDK does not know
    v = lazy(msg)
    assert v.version == msg.version
    with pytest.raises(ValueError, match="unknown to this SDK"):
        v.state  # noqa: B018


def read_together(v: modelreg.ModelVersion, names: list[str]) -> list[Any]:
    """Read ``names[i]`` in thread i, all threads released at once."""
    barrier = threading.Barrier(len(names))
    seen: list[Any] = [None] * len(names)

    def read(i: int) -> None:
        barrier.wait()
        seen[i] = getattr(v, names[i])

    threads = [threading.Thread(target=read, args=(i,)) for i in range(len(names))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return seen


def test_two_threads_reading_the_same_field_get_equal_values() -> None:
    e = eager()
    for _ in range(20):
        v = lazy()
        names = [name for name in FIELDS for _ in range(2)]
        seen = read_together(v, names)
        for i in range(0, len(names), 2):
            assert seen[i] == seen[i + 1] == getattr(e, names[i]), names[i]
        assert v == e
        assert vars(v) == vars(e)


def test_eager_construction_is_unchanged() -> None:
    e = eager()
    made = modelreg.ModelVersion(**{name: getattr(e, name) for name in FIELDS})
    assert made == e
    assert vars(made) == vars(e)
    # The class attributes are still the defaults, as on any dataclass.
    assert modelreg.ModelVersion.aliases == ()
    with pytest.raises(AttributeError):
        modelreg.ModelVersion.version  # noqa: B018
    without_aliases = {name: getattr(e, name) for name in FIELDS if name != "aliases"}
    assert modelreg.ModelVersion(**without_aliases).aliases == ()


def test_lazy_constructor_needs_one_converter_per_field() -> None:
    table = dict(_convert.MODEL_VERSION_FIELDS)
    del table["etag"]
    with pytest.raises(TypeError, match="converters"):
        _types.lazy_constructor(modelreg.ModelVersion, table)
    with pytest.raises(TypeError, match="not Lazy"):
        _types.lazy_constructor(modelreg.Alias, {})
