"""The filter fields of ListModelVersions: columns, and EXISTS over the typed
param and label rows so the filters are indexed SQL."""

from __future__ import annotations

import math
from collections.abc import Mapping

from sqlalchemy import ColumnElement, exists

from modelreg_server.domain import errors
from modelreg_server.domain.types import VersionState
from modelreg_server.storage import filters
from modelreg_server.storage.tables import model_versions as mv
from modelreg_server.storage.tables import version_labels, version_params


def _param_filter(key: str, op: str, value: filters.Value) -> ColumnElement[bool]:
    vp = version_params
    base = [vp.c.version_id == mv.c.id, vp.c.key == key]
    test_op = "=" if op == "!=" else op
    cmp = filters.OPS[test_op]
    if isinstance(value, bool):
        cond = (vp.c.kind == "bool") & cmp(vp.c.num_value, float(value))
    elif isinstance(value, int | float):
        if not math.isfinite(value):
            raise errors.InvalidArgument(
                "filter", f"params.{filters.cut(key)}: value must be finite"
            )
        cond = ((vp.c.kind == "int") | (vp.c.kind == "float")) & cmp(vp.c.num_value, value)
    else:
        cond = (vp.c.kind == "str") & cmp(vp.c.text_value, value)
    clause = exists().where(*base, cond)
    return ~clause if op == "!=" else clause


def _label_filter(key: str, op: str, value: filters.Value) -> ColumnElement[bool]:
    vl = version_labels
    text_value = filters.coerce(value, "str", f"labels.{key}")
    test_op = "=" if op == "!=" else op
    clause = exists().where(
        vl.c.version_id == mv.c.id, vl.c.key == key, filters.OPS[test_op](vl.c.value, text_value)
    )
    return ~clause if op == "!=" else clause


def _state_filter(key: str, op: str, value: filters.Value) -> ColumnElement[bool]:
    state = filters.coerce(value, "str", "state")
    if state not in {s.value for s in VersionState} or op not in ("=", "!="):
        raise errors.InvalidArgument(
            "filter", "state: compare with = or != to READY, ARCHIVED or DELETED"
        )
    return filters.OPS[op](mv.c.state, state)  # type: ignore[no-any-return]


FIELDS: Mapping[str, filters.FieldCompiler] = {
    "version": filters.column(mv.c.version, "int"),
    "state": _state_filter,
    "create_time": filters.column(mv.c.create_time, "time"),
    "update_time": filters.column(mv.c.update_time, "time"),
    "created_by": filters.column(mv.c.created_by, "str"),
    "architecture": filters.column(mv.c.architecture, "str"),
    "source_run": filters.column(mv.c.source_run, "str"),
    "artifact_format": filters.column(mv.c.artifact_format, "str"),
    "params.": _param_filter,
    "labels.": _label_filter,
}
