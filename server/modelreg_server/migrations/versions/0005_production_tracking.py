"""production tracking: deployments, inference records, hourly rollups

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27

- Deployments of a model with their traffic split, and the append-only history
  of their changes (what was deployed at time T is a query of it).
- ``inference_records``, partitioned by range of event time (one partition per
  UTC day, made by the server as records need them; none here).
- ``inference_rollups``: per model, version, deployment and hour, the sums
  production metrics are computed from, with a latency histogram as a jsonb map
  of log bucket -> count; ``inference_daily_rollups``, the same per UTC day.
  ``modelreg_hist_add`` merges two such maps and the aggregate
  ``modelreg_hist_sum`` merges a column of them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# Adds b's counts into a (a bucket summing to 0 is dropped): one pass over b,
# the usually smaller map (a batch's, into an hour's), looking each of its keys
# up in a.
HIST_ADD = """
CREATE FUNCTION modelreg_hist_add(a jsonb, b jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN b IS NULL OR b = '{}'::jsonb THEN coalesce(a, '{}'::jsonb)
    ELSE (
      SELECT (coalesce(a, '{}'::jsonb) || jsonb_object_agg(e.k, e.n))
             - coalesce(array_agg(e.k) FILTER (WHERE e.n = 0), '{}'::text[])
      FROM (
        SELECT key AS k, coalesce((a ->> key)::bigint, 0) + value::bigint AS n
        FROM jsonb_each_text(b)
      ) AS e
    )
  END
$$
"""
HIST_SUM = """
CREATE AGGREGATE modelreg_hist_sum(jsonb) (
  SFUNC = modelreg_hist_add, STYPE = jsonb, INITCOND = '{}'
)
"""


def _time(name: str) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        name, sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def _rollup_sums() -> list[sa.Column]:  # type: ignore[type-arg]
    """The sums of a rollup row (tables.RollupSums)."""
    counts = ("count", "feedback_count", "labeled_count", "correct_count", "valued_count")
    return [
        *(sa.Column(c, sa.BigInteger(), server_default="0", nullable=False) for c in counts),
        sa.Column("abs_err_sum", sa.Double(), server_default="0", nullable=False),
        sa.Column("sq_err_sum", sa.Double(), server_default="0", nullable=False),
        sa.Column("latency_count", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("latency_sum", sa.Double(), server_default="0", nullable=False),
        sa.Column(
            "latency_hist",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="{}",
            nullable=False,
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("project_id", sa.BigInteger(), nullable=False),
        sa.Column("model_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("environment", sa.Text(), server_default="", nullable=False),
        sa.Column("state", sa.Text(), server_default="ACTIVE", nullable=False),
        sa.Column(
            "traffic", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False
        ),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "labels", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
        sa.Column("created_by", sa.Text(), server_default="", nullable=False),
        sa.Column("updated_by", sa.Text(), server_default="", nullable=False),
        sa.Column("revision", sa.BigInteger(), server_default="1", nullable=False),
        _time("create_time"),
        _time("update_time"),
        sa.CheckConstraint(
            "state IN ('ACTIVE', 'PAUSED', 'RETIRED')", name=op.f("ck_deployments_state")
        ),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["models.id"],
            name=op.f("fk_deployments_model_id_models"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_deployments_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployments")),
        sa.UniqueConstraint("project_id", "name", name=op.f("uq_deployments_project_id_name")),
    )
    op.create_index(op.f("ix_deployments_model_id"), "deployments", ["model_id"])
    op.create_table(
        "deployment_events",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("deployment_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("traffic", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("environment", sa.Text(), server_default="", nullable=False),
        sa.Column("actor", sa.Text(), server_default="", nullable=False),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        _time("event_time"),
        sa.CheckConstraint(
            "kind IN ('CREATE', 'TRAFFIC', 'STATE', 'UPDATE')",
            name=op.f("ck_deployment_events_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_deployment_events_deployment_id_deployments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployment_events")),
    )
    op.create_index(
        op.f("ix_deployment_events_deployment_id_id"), "deployment_events", ["deployment_id", "id"]
    )
    op.create_table(
        "inference_records",
        sa.Column("record_id", sa.UUID(), nullable=False),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("project_id", sa.BigInteger(), nullable=False),
        sa.Column("model_id", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("deployment_id", sa.BigInteger(), nullable=True),
        sa.Column("request_id", sa.Text(), server_default="", nullable=False),
        sa.Column("inputs", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("outputs", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("predicted_value", sa.Double(), nullable=True),
        sa.Column("predicted_label", sa.Text(), nullable=True),
        sa.Column("latency_ms", sa.Double(), nullable=True),
        sa.Column(
            "attributes",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="{}",
            nullable=False,
        ),
        sa.Column("writer_id", sa.Text(), server_default="", nullable=False),
        _time("ingest_time"),
        sa.Column("true_value", sa.Double(), nullable=True),
        sa.Column("true_label", sa.Text(), nullable=True),
        sa.Column("feedback_time", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("record_id", "event_time", name=op.f("pk_inference_records")),
        postgresql_partition_by="RANGE (event_time)",
    )
    op.create_index(
        op.f("ix_inference_records_model_id_event_time"),
        "inference_records",
        ["model_id", "event_time"],
    )
    op.create_index(
        op.f("ix_inference_records_project_id_request_id"),
        "inference_records",
        ["project_id", "request_id"],
        postgresql_where=sa.text("request_id <> ''"),
    )
    for table, span in (("inference_rollups", "hour"), ("inference_daily_rollups", "day")):
        op.create_table(
            table,
            sa.Column("model_id", sa.BigInteger(), nullable=False),
            sa.Column(span, sa.DateTime(timezone=True), nullable=False),
            sa.Column("version", sa.BigInteger(), nullable=False),
            sa.Column("deployment_id", sa.BigInteger(), nullable=False),
            *_rollup_sums(),
            sa.PrimaryKeyConstraint(
                "model_id", span, "version", "deployment_id", name=op.f(f"pk_{table}")
            ),
        )
    op.execute(HIST_ADD)
    op.execute(HIST_SUM)


def downgrade() -> None:
    op.execute("DROP AGGREGATE modelreg_hist_sum(jsonb)")
    op.execute("DROP FUNCTION modelreg_hist_add(jsonb, jsonb)")
    op.drop_table("inference_daily_rollups")
    op.drop_table("inference_rollups")
    op.drop_table("inference_records")
    op.drop_table("deployment_events")
    op.drop_table("deployments")
