"""The filter fields of ListRuns: columns, and EXISTS over the typed param,
label, latest-metric and input rows, so every filter is indexed SQL with bound
values.

``!=`` on params and labels also matches a run without the key (as on versions);
``metrics.<key>`` compares the key's latest value and never matches NaN (which
PostgreSQL orders above every number); ``input.*`` matches when some input of
the run matches."""

from __future__ import annotations

import math
from collections.abc import Mapping

from sqlalchemy import ColumnElement, exists, literal, tuple_

from modelreg_server.domain import errors
from modelreg_server.domain.runs import RunState
from modelreg_server.storage import filters
from modelreg_server.storage.tables import (
    dataset_versions,
    datasets,
    projects,
    run_inputs,
    run_labels,
    run_latest_metrics,
    run_params,
    runs,
)

_DATASET_VERSION = ["projects", "datasets", "versions"]


def _negatable(op: str) -> str:
    return "=" if op == "!=" else op


def _metric_filter(key: str, op: str, value: filters.Value) -> ColumnElement[bool]:
    lm = run_latest_metrics
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise errors.InvalidArgument("filter", f"metrics.{filters.cut(key)}: compare with a number")
    number = float(value)
    return exists().where(
        lm.c.run_id == runs.c.id,
        lm.c.key == key,
        filters.OPS[op](lm.c.value, number),
        lm.c.value != literal(math.nan),
    )


def _state_filter(key: str, op: str, value: filters.Value) -> ColumnElement[bool]:
    state = filters.coerce(value, "str", "state")
    if state not in {s.value for s in RunState} or op not in ("=", "!="):
        raise errors.InvalidArgument(
            "filter", "state: compare with = or != to RUNNING, SUCCEEDED, FAILED or CANCELLED"
        )
    return filters.OPS[op](runs.c.state, state)  # type: ignore[no-any-return]


def _input(condition: ColumnElement[bool]) -> ColumnElement[bool]:
    """Some input of the run is a dataset version meeting ``condition``."""
    return exists().where(
        run_inputs.c.run_id == runs.c.id,
        dataset_versions.c.id == run_inputs.c.dataset_version_id,
        datasets.c.id == dataset_versions.c.dataset_id,
        projects.c.id == datasets.c.project_id,
        condition,
    )


def _input_dataset(key: str, op: str, value: filters.Value) -> ColumnElement[bool]:
    name = filters.coerce(value, "str", key)
    return _input(filters.OPS[op](datasets.c.name, name))


def _input_batch(key: str, op: str, value: filters.Value) -> ColumnElement[bool]:
    batch = filters.coerce(value, "str", key)
    return _input(filters.OPS[op](dataset_versions.c.batch_id, batch))


def _input_dataset_version(key: str, op: str, value: filters.Value) -> ColumnElement[bool]:
    """By resource name, ``projects/{p}/datasets/{d}/versions/{v}``; = and != only
    (``!=``: some input is another dataset version)."""
    name = filters.coerce(value, "str", key)
    parts = name.split("/")
    if op not in ("=", "!=") or len(parts) != 6 or parts[0::2] != _DATASET_VERSION:
        raise errors.InvalidArgument(
            "filter",
            f"{key}: compare with = or != to a name projects/{{p}}/datasets/{{d}}/versions/{{v}}",
        )
    row = tuple_(projects.c.name, datasets.c.name, dataset_versions.c.version)
    return _input(filters.OPS[op](row, tuple_(*parts[1::2])))


FIELDS: Mapping[str, filters.FieldCompiler] = {
    "run_id": filters.column(runs.c.name, "str"),
    "experiment": filters.column(runs.c.experiment, "str"),
    "state": _state_filter,
    "start_time": filters.column(runs.c.start_time, "time"),
    "end_time": filters.column(runs.c.end_time, "time"),
    "created_by": filters.column(runs.c.created_by, "str"),
    "code_commit": filters.column(runs.c.code_commit, "str"),
    "params.": filters.typed_params(run_params.c.run_id, runs.c.id),
    "metrics.": _metric_filter,
    "labels.": filters.label_rows(run_labels.c.run_id, runs.c.id),
    "input.dataset": _input_dataset,
    "input.dataset_version": _input_dataset_version,
    "input.batch_id": _input_batch,
}
