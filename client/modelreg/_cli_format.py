"""The ``modelreg`` command's formats: what it reads (``k=v``, data references) and what it
prints (aligned tables, ``key: value`` details, JSON)."""

from __future__ import annotations

import argparse
import dataclasses
import enum
import json
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from modelreg._types import DataRef, DataRole, ParamValue


def key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    return key, value


def param_value(text: str) -> ParamValue:
    """``"3"`` -> 3, ``"0.1"`` -> 0.1, ``"true"`` -> True; anything else stays a string."""
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else text


def param(text: str) -> tuple[str, ParamValue]:
    key, value = key_value(text)
    return key, param_value(value)


def _role(role: str) -> DataRole:
    try:
        return DataRole(role.upper()) if role else DataRole.TRAIN
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"role must be train (the default), validation or test, got {role!r}"
        ) from None


def data_ref(text: str) -> DataRef:
    """``--data``: a dataset version as ``projects/P/datasets/D/versions/V`` or
    ``DATASET:VERSION``, either followed by ``:ROLE`` (train, validation, test).

    The older ``DATASET:VERSION:BATCH_ID:ROLE`` still parses (a third part that is not a
    role is a batch id); the server reads the batch id from the dataset version now.
    """
    if text.startswith("projects/"):
        name, _, role = text.partition(":")
        return DataRef(dataset_version=name, role=_role(role))
    parts = text.split(":")
    if len(parts) > 4 or not parts[0]:
        raise argparse.ArgumentTypeError(
            f"expected dataset:version[:role] or a dataset version's name, got {text!r}"
        )
    if len(parts) == 3 and parts[2].upper() in DataRole.__members__:
        parts = [parts[0], parts[1], "", parts[2]]
    dataset, version, batch_id, role = [*parts, "", "", ""][:4]
    return DataRef(dataset, version, batch_id, _role(role))


def data_refs(refs: Sequence[Any]) -> str:
    """References as ``--data`` takes them: ``projects/.../versions/V:ROLE``, or
    ``dataset:version:batch_id:role`` for ones without a dataset version's name."""
    return ", ".join(map(_data_ref_text, (jsonable(r) for r in refs)))


def _data_ref_text(ref: Mapping[str, Any]) -> str:
    if ref.get("dataset_version"):
        batch = f" (batch {ref['batch_id']})" if ref.get("batch_id") else ""
        return f"{ref['dataset_version']}:{ref['role']}{batch}"
    return ":".join(scalar(ref.get(k, "")) for k in ("dataset", "version", "batch_id", "role"))


def json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from None


def json_object(text: str) -> dict[str, Any]:
    value = json_value(text)
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object")
    return value


Column = tuple[str, Callable[[Any], str]]
MAX_CELL = 40


@dataclasses.dataclass(frozen=True)
class Deleted:
    """What a delete command prints: the resource name it removed."""

    deleted: str


def jsonable(value: Any) -> Any:
    """Dataclasses to dicts, enums to their values, datetimes to ISO 8601 strings."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def to_json(value: Any) -> str:
    return json.dumps(jsonable(value), indent=2)


def when(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def pairs(mapping: Mapping[str, Any], limit: int | None = MAX_CELL) -> str:
    """``{"lr": 0.01, "epochs": 3}`` -> ``epochs=3,lr=0.01``, shortened to ``limit``."""
    text = ",".join(f"{k}={scalar(v)}" for k, v in sorted(mapping.items()))
    return text if limit is None or len(text) <= limit else text[: limit - 3] + "..."


def scalar(value: Any) -> str:
    """A cell: booleans as true/false, None as ``-``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "-"
    return str(value)


def table(rows: Sequence[Any], columns: Sequence[Column]) -> str:
    """Left-aligned columns separated by two spaces; one header line."""
    cells = [[h for h, _ in columns], *([get(r) for _, get in columns] for r in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )


def detail(value: Any) -> str:
    """One ``key: value`` line per non-empty field; nested fields as ``a.b``."""
    return "\n".join(f"{k}: {v}" for k, v in _flatten("", jsonable(value)))


# Fields printed as one line of JSON, and maps printed as k=v pairs, in ``detail``.
_AS_JSON = ("architecture_config", "schema")
_AS_PAIRS = ("labels", "params", "metrics")


def _flatten(key: str, value: Any) -> list[tuple[str, str]]:
    if value in ("", None) or value is False or value == {} or value == []:
        return []
    leaf = key.rpartition(".")[2]  # version.training_data is training_data too
    if leaf in _AS_JSON:
        return [(key, json.dumps(value))]
    if leaf == "latest_metrics":
        points = (f"{k}={v['value']!r} (step {v['step']})" for k, v in value.items())
        return [(key, ", ".join(points))]
    if isinstance(value, dict) and leaf not in _AS_PAIRS:
        return [line for k, v in value.items() for line in _flatten(f"{key}.{k}" if key else k, v)]
    if isinstance(value, dict):
        return [(key, pairs(value, limit=None))]
    if leaf in ("training_data", "inputs"):
        # In the --data syntax: projects/P/datasets/D/versions/V:ROLE.
        return [(key, data_refs(value))]
    if leaf == "outputs":
        return [(key, ", ".join(f"{o['display_name']} ({o['artifact_uri']})" for o in value))]
    if isinstance(value, list):
        items = (
            ":".join(map(scalar, v.values())) if isinstance(v, dict) else scalar(v) for v in value
        )
        return [(key, ", ".join(items))]
    return [(key, scalar(value))]


PROJECT_COLUMNS: list[Column] = [
    ("NAME", lambda p: p.name),
    ("DESCRIPTION", lambda p: p.description[:MAX_CELL]),
    ("LABELS", lambda p: pairs(p.labels)),
    ("CREATED", lambda p: when(p.create_time)),
]
MODEL_COLUMNS: list[Column] = [
    ("NAME", lambda m: m.name),
    ("VERSIONS", lambda m: str(m.version_count)),
    ("DESCRIPTION", lambda m: m.description[:MAX_CELL]),
    ("LABELS", lambda m: pairs(m.labels)),
    ("CREATED", lambda m: when(m.create_time)),
]
VERSION_COLUMNS: list[Column] = [
    ("VERSION", lambda v: str(v.version)),
    ("NAME", lambda v: v.display_name),
    ("STATE", lambda v: v.state.value),
    ("ALIASES", lambda v: ",".join(v.aliases)),
    ("ARCHITECTURE", lambda v: v.architecture),
    ("PARAMS", lambda v: pairs(v.params)),
    ("CREATED", lambda v: when(v.create_time)),
]
ALIAS_COLUMNS: list[Column] = [
    ("ALIAS", lambda a: a.alias),
    ("VERSION", lambda a: str(a.version)),
    ("UPDATED_BY", lambda a: a.updated_by),
    ("UPDATED", lambda a: when(a.update_time)),
]
EVENT_COLUMNS: list[Column] = [
    ("SEQ", lambda e: str(e.sequence)),
    ("KIND", lambda e: e.kind.value),
    ("FROM", lambda e: scalar(e.from_version)),
    ("TO", lambda e: scalar(e.to_version)),
    ("ACTOR", lambda e: e.actor),
    ("TIME", lambda e: when(e.event_time)),
    ("REASON", lambda e: e.reason[:MAX_CELL]),
]
