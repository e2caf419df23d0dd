"""stored responses for request ids, canonical architecture config, one data role
default, list indexes and statistics

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

- request_log keeps each first call's response (``response``) and scopes keys by
  the resource a call addresses; registration keys move there from the version rows
  (their responses were never kept: NULL). The per-state keys of SetVersionState
  become the RPCs' own names.
- architecture_config becomes canonical JSON text (sorted keys, compact, UTF-8),
  returned byte for byte; "" for no configuration (``{}`` read back as none).
- A data reference without a role is TRAIN, the one default.
- Index for `order_by=create_time` pages; extended statistics so the planner sees
  how selective a filter on one param key's values is.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_BATCH = 1000
_STATE_METHODS = {
    "SetVersionState/READY": "RestoreModelVersion",
    "SetVersionState/ARCHIVED": "ArchiveModelVersion",
    "SetVersionState/DELETED": "DeleteModelVersion",
}


def _canonical_configs() -> None:
    conn = op.get_bind()
    last = 0
    while True:
        rows = conn.execute(
            sa.text(
                "SELECT id, architecture_config::text AS config FROM model_versions "
                "WHERE id > :last ORDER BY id LIMIT :n"
            ),
            {"last": last, "n": _BATCH},
        ).all()
        if not rows:
            return
        updates = []
        for row in rows:
            value = json.loads(row.config)
            text = (
                json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
                if value
                else ""
            )
            updates.append({"id": row.id, "text": text})
        conn.execute(
            sa.text("UPDATE model_versions SET config_text = :text WHERE id = :id"), updates
        )
        last = rows[-1].id


def upgrade() -> None:
    # Responses of request ids; registration keys join the log.
    op.add_column("request_log", sa.Column("response", postgresql.JSONB(), nullable=True))
    op.drop_column("request_log", "resource")
    for old, new in _STATE_METHODS.items():
        op.execute(
            sa.text("UPDATE request_log SET method = :new WHERE method = :old").bindparams(
                old=old, new=new
            )
        )
    # Keys are scoped by the resource a call addresses. Registration keys were per
    # model, so they keep working; the others were global and cannot be given a
    # scope (their resource column was ambiguous): they stay, unreachable, and a
    # retry across the upgrade does its work again (creates find the name taken).
    op.add_column("request_log", sa.Column("scope", sa.Text(), server_default="", nullable=False))
    op.drop_constraint(op.f("pk_request_log"), "request_log", type_="primary")
    op.create_primary_key(op.f("pk_request_log"), "request_log", ["method", "scope", "request_id"])
    op.execute(
        "INSERT INTO request_log (method, scope, request_id, payload_hash, create_time) "
        "SELECT 'CreateModelVersion', 'projects/' || p.name || '/models/' || m.name, "
        "v.request_id, v.request_hash, v.create_time "
        "FROM model_versions v JOIN models m ON m.id = v.model_id "
        "JOIN projects p ON p.id = m.project_id WHERE v.request_id IS NOT NULL"
    )
    op.drop_constraint(
        op.f("uq_model_versions_model_id_request_id"), "model_versions", type_="unique"
    )
    op.drop_column("model_versions", "request_id")
    op.drop_column("model_versions", "request_hash")

    # Canonical architecture config, as text.
    op.add_column(
        "model_versions", sa.Column("config_text", sa.Text(), server_default="", nullable=False)
    )
    _canonical_configs()
    op.drop_column("model_versions", "architecture_config")
    op.alter_column("model_versions", "config_text", new_column_name="architecture_config")

    # One default data role.
    op.execute("UPDATE model_version_data SET role = 'TRAIN' WHERE role = 'UNSPECIFIED'")
    op.execute(
        """
        UPDATE model_versions SET data_list = (
            SELECT jsonb_agg(
                CASE WHEN e ->> 3 = 'UNSPECIFIED' THEN jsonb_set(e, '{3}', '"TRAIN"') ELSE e END
                ORDER BY o)
            FROM jsonb_array_elements(data_list) WITH ORDINALITY AS t(e, o))
        WHERE data_list @> '[["UNSPECIFIED"]]'
        """
    )
    op.alter_column("model_version_data", "role", server_default="TRAIN")
    op.create_check_constraint(
        op.f("ck_model_version_data_role"),
        "model_version_data",
        "role IN ('TRAIN', 'VALIDATION', 'TEST')",
    )

    # Plans that stay index-driven at 100,000 versions.
    op.create_index(
        op.f("ix_model_versions_model_id_create_time_version"),
        "model_versions",
        ["model_id", "create_time", "version"],
    )
    # key and num_value are correlated (each key has its own range of values): the
    # per-column statistics multiply two selectivities and take `lr > 5` for common
    # when epochs are 10. A most-common-values list of (key, value) pairs, long
    # enough for the values of typical hyperparameters, tells the planner otherwise.
    op.execute(
        "CREATE STATISTICS st_model_version_params_key_num_value (mcv) "
        "ON key, num_value FROM model_version_params"
    )
    op.execute("ALTER STATISTICS st_model_version_params_key_num_value SET STATISTICS 1000")
    op.execute("ANALYZE model_version_params")


def downgrade() -> None:
    raise NotImplementedError("0002 is not reversible: responses and config bytes would be lost")
