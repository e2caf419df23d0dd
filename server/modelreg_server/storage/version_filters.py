"""The filter fields of ListModelVersions: columns, and EXISTS over the typed
param, label and training data rows so the filters are indexed SQL. Rankings
(ranking.py) add ``model``, for a ranking across a project's models."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import ColumnElement, exists, select

from modelreg_server.domain import errors
from modelreg_server.domain.types import VersionState
from modelreg_server.storage import filters
from modelreg_server.storage.tables import (
    dataset_versions,
    datasets,
    models,
    projects,
    version_data,
    version_labels,
    version_params,
)
from modelreg_server.storage.tables import model_versions as mv


def _state_filter(key: str, op: str, value: filters.Value) -> ColumnElement[bool]:
    state = filters.coerce(value, "str", "state")
    if state not in {s.value for s in VersionState} or op not in ("=", "!="):
        raise errors.InvalidArgument(
            "filter", "state: compare with = or != to READY, ARCHIVED or DELETED"
        )
    return filters.OPS[op](mv.c.state, state)  # type: ignore[no-any-return]


def _some_data(field: str, test: ColumnElement[bool], op: str) -> ColumnElement[bool]:
    """Some training data reference passes ``test`` (`!=`: none is equal)."""
    clause = exists().where(version_data.c.version_id == mv.c.id, test)
    return ~clause if op == "!=" else clause


def _data_dataset(key: str, op: str, value: filters.Value) -> ColumnElement[bool]:
    # The reference's dataset as it reads back (the text stored before schema 0004
    # for references the upgrade made into dataset versions).
    text_value = filters.coerce(value, "str", "training_data.dataset")
    test_op = "=" if op == "!=" else op
    return _some_data(key, filters.OPS[test_op](version_data.c.dataset, text_value), op)


def _data_batch(key: str, op: str, value: filters.Value) -> ColumnElement[bool]:
    text_value = filters.coerce(value, "str", "training_data.batch_id")
    test_op = "=" if op == "!=" else op
    return _some_data(key, filters.OPS[test_op](version_data.c.batch_id, text_value), op)


def _data_version(key: str, op: str, value: filters.Value) -> ColumnElement[bool]:
    """A dataset version's resource name, compared with = or != only."""
    name = filters.coerce(value, "str", "training_data.dataset_version")
    parts = name.split("/")
    if op not in ("=", "!="):
        raise errors.InvalidArgument(
            "filter", "training_data.dataset_version: compare with = or != only"
        )
    if len(parts) != 6 or parts[0::2] != ["projects", "datasets", "versions"]:
        raise errors.InvalidArgument(
            "filter",
            "training_data.dataset_version: expected projects/{p}/datasets/{d}/versions/{v}, "
            f"got {filters.cut(name)!r}",
        )
    project, dataset, version = parts[1::2]
    dv_id = (
        select(dataset_versions.c.id)
        .join(datasets, datasets.c.id == dataset_versions.c.dataset_id)
        .join(projects, projects.c.id == datasets.c.project_id)
        .where(
            projects.c.name == project,
            datasets.c.name == dataset,
            dataset_versions.c.version == version,
        )
        .scalar_subquery()
    )
    return _some_data(key, version_data.c.dataset_version_id == dv_id, op)


def _model_filter(key: str, op: str, value: filters.Value) -> ColumnElement[bool]:
    name = filters.coerce(value, "str", "model")
    clause = exists().where(models.c.id == mv.c.model_id, filters.OPS[op](models.c.name, name))
    return clause.correlate_except(models)


FIELDS: Mapping[str, filters.FieldCompiler] = {
    "version": filters.column(mv.c.version, "int"),
    "state": _state_filter,
    "create_time": filters.column(mv.c.create_time, "time"),
    "update_time": filters.column(mv.c.update_time, "time"),
    "created_by": filters.column(mv.c.created_by, "str"),
    "architecture": filters.column(mv.c.architecture, "str"),
    "source_run": filters.column(mv.c.source_run, "str"),
    "artifact_format": filters.column(mv.c.artifact_format, "str"),
    "params.": filters.typed_params(version_params.c.version_id, mv.c.id),
    "labels.": filters.label_rows(version_labels.c.version_id, mv.c.id),
    "training_data.dataset": _data_dataset,
    "training_data.dataset_version": _data_version,
    "training_data.batch_id": _data_batch,
}
RANK_FIELDS: Mapping[str, filters.FieldCompiler] = {**FIELDS, "model": _model_filter}
