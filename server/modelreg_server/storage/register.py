"""Registering a version: one SQL statement of data-modifying CTEs.

It creates the model if missing, increments the model's counter under its row
lock, inserts the version with its params, labels and data references, and
commits as a unit. No MAX()+1, no gap on failure: a failed statement rolls back
the counter too."""

from __future__ import annotations

import json

import asyncpg

from modelreg_server.domain import errors
from modelreg_server.domain.types import (
    ModelVersion,
    NewModelVersion,
    ParamValue,
    VersionRef,
    VersionState,
)
from modelreg_server.storage import projects as project_queries
from modelreg_server.storage.store import RawConn, Statement

REQUEST_ID_CONSTRAINT = "uq_model_versions_model_id_request_id"

_CREATE = Statement(
    """
WITH p AS (SELECT id FROM projects WHERE name = :project),
m AS (
    INSERT INTO models AS mo (project_id, name, version_count)
    SELECT p.id, :model, 1 FROM p
    ON CONFLICT (project_id, name) DO UPDATE
        SET version_count = mo.version_count + 1,
            revision = mo.revision + 1,
            update_time = now()
    RETURNING mo.id, mo.version_count
),
v AS (
    INSERT INTO model_versions (
        model_id, version, description, artifact_uri, artifact_sha256, artifact_size,
        artifact_format, architecture, architecture_config, param_list, data_list, labels,
        source_run, code_repo, code_commit, code_dirty, parent_id, created_by, request_id,
        request_hash)
    SELECT m.id, m.version_count, :description, :artifact_uri, :artifact_sha256,
        :artifact_size, :artifact_format, :architecture, CAST(:architecture_config AS jsonb),
        CAST(:param_list AS jsonb), CAST(:data AS jsonb), CAST(:labels AS jsonb), :source_run,
        :code_repo, :code_commit, :code_dirty, :parent_id, :created_by, :request_id,
        :request_hash
    FROM m
    RETURNING id, version, create_time
),
pa AS (
    INSERT INTO model_version_params (version_id, key, kind, num_value, text_value)
    SELECT v.id, x.key, x.kind, x.num_value, x.text_value
    FROM v, jsonb_to_recordset(CAST(:params AS jsonb))
        AS x(key text, kind text, num_value float8, text_value text)
),
la AS (
    INSERT INTO model_version_labels (version_id, key, value)
    SELECT v.id, x.key, x.value FROM v, jsonb_each_text(CAST(:labels AS jsonb)) AS x
),
da AS (
    INSERT INTO model_version_data (version_id, position, dataset, version, batch_id, role)
    SELECT v.id, x.ord, x.r->>0, x.r->>1, x.r->>2, x.r->>3
    FROM v, jsonb_array_elements(CAST(:data AS jsonb)) WITH ORDINALITY AS x(r, ord)
)
SELECT id, version, create_time FROM v
"""
)


def encode_param(value: ParamValue) -> tuple[str, float | None, str]:
    """(kind, numeric value, exact text) of a typed param."""
    if isinstance(value, bool):
        return "bool", float(value), "true" if value else "false"
    if isinstance(value, int):
        return "int", float(value), str(value)
    if isinstance(value, float):
        return "float", value, repr(value)
    return "str", None, value


async def create(
    conn: RawConn,
    project: str,
    model: str,
    spec: NewModelVersion,
    *,
    parent: tuple[int, int] | None,
    created_by: str,
    request_id: str | None,
    request_hash: str | None,
) -> ModelVersion | None:
    """Insert a version; None means the request_id was already used for this model.

    ``parent`` is (row id, version number) of the resolved parent version.
    """
    params = [
        dict(zip(("key", "kind", "num_value", "text_value"), (k, *encode_param(v)), strict=True))
        for k, v in spec.params.items()
    ]
    data = [[d.dataset, d.version, d.batch_id, d.role.value] for d in spec.training_data]
    values = {
        "project": project,
        "model": model,
        "description": spec.description,
        "artifact_uri": spec.artifact.uri,
        "artifact_sha256": spec.artifact.sha256,
        "artifact_size": spec.artifact.size_bytes,
        "artifact_format": spec.artifact.format,
        "architecture": spec.architecture.name,
        "architecture_config": json.dumps(spec.architecture.config),
        "source_run": spec.source_run,
        "code_repo": spec.code_version.repo,
        "code_commit": spec.code_version.commit,
        "code_dirty": spec.code_version.dirty,
        "parent_id": parent[0] if parent else None,
        "created_by": created_by,
        "request_id": request_id,
        "request_hash": request_hash,
        "params": json.dumps(params),
        "param_list": json.dumps([[p["key"], p["kind"], p["text_value"]] for p in params]),
        "labels": json.dumps(dict(spec.labels)),
        "data": json.dumps(data),
    }
    try:
        row = await conn.fetchrow(_CREATE.sql, *_CREATE.args(values))
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == REQUEST_ID_CONSTRAINT:
            return None
        raise
    if row is None:
        raise errors.NotFound("project", f"projects/{project}")
    parent_ref = None
    if spec.parent is not None and parent is not None:
        parent_ref = VersionRef(spec.parent.project, spec.parent.model, str(parent[1]))
    return ModelVersion(
        project=project,
        model=model,
        version=row["version"],
        artifact=spec.artifact,
        architecture=spec.architecture,
        params=dict(spec.params),
        training_data=tuple(spec.training_data),
        source_run=spec.source_run,
        code_version=spec.code_version,
        parent=parent_ref,
        labels=dict(spec.labels),
        description=spec.description,
        state=VersionState.READY,
        created_by=created_by,
        create_time=row["create_time"],
        update_time=row["create_time"],
        etag=project_queries.etag(1),
        aliases=(),
    )
