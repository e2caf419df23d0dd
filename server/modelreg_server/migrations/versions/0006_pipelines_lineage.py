"""pipelines and lineage: pipeline runs, their steps and the steps' references

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27

- ``pipelines`` (one per definition name and project), ``pipeline_runs`` and
  ``pipeline_steps``.
- ``pipeline_step_refs``: what each step read (INPUT) and made (OUTPUT), as a
  kind and the id in that kind's table, indexed for walking from a resource to
  its steps.
- An index on ``model_versions.parent_id``: lineage walks from a version to the
  versions fine-tuned from it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _time(name: str) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        name, sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def _jsonb(name: str, default: str) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        name, postgresql.JSONB(astext_type=sa.Text()), server_default=default, nullable=False
    )


def _text(name: str) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.Text(), server_default="", nullable=False)


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        [f"{target}.id"],
        name=op.f(f"fk_{table}_{column}_{target}"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "pipelines",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("project_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("run_count", sa.BigInteger(), server_default="0", nullable=False),
        _time("create_time"),
        _time("update_time"),
        _fk("pipelines", "project_id", "projects"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipelines")),
        sa.UniqueConstraint("project_id", "name", name=op.f("uq_pipelines_project_id_name")),
    )
    op.create_table(
        "pipeline_runs",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("pipeline_id", sa.BigInteger(), nullable=False),
        sa.Column("project_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        _text("definition_version"),
        sa.Column("state", sa.Text(), server_default="RUNNING", nullable=False),
        _time("start_time"),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=True),
        _jsonb("param_list", "[]"),
        _jsonb("labels", "{}"),
        _text("description"),
        _text("error"),
        _text("created_by"),
        sa.Column("revision", sa.BigInteger(), server_default="1", nullable=False),
        _time("update_time"),
        sa.CheckConstraint(
            "state IN ('RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED')",
            name=op.f("ck_pipeline_runs_state"),
        ),
        _fk("pipeline_runs", "pipeline_id", "pipelines"),
        _fk("pipeline_runs", "project_id", "projects"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipeline_runs")),
        sa.UniqueConstraint("pipeline_id", "name", name=op.f("uq_pipeline_runs_pipeline_id_name")),
    )
    op.create_index(
        op.f("ix_pipeline_runs_project_id_start_time_id"),
        "pipeline_runs",
        ["project_id", "start_time", "id"],
    )
    op.create_index(
        op.f("ix_pipeline_runs_pipeline_id_start_time_id"),
        "pipeline_runs",
        ["pipeline_id", "start_time", "id"],
    )
    op.create_table(
        "pipeline_steps",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("pipeline_run_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=True),
        _jsonb("param_list", "[]"),
        _text("error"),
        _time("update_time"),
        sa.CheckConstraint(
            "state IN ('PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'SKIPPED')",
            name=op.f("ck_pipeline_steps_state"),
        ),
        _fk("pipeline_steps", "pipeline_run_id", "pipeline_runs"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipeline_steps")),
        sa.UniqueConstraint(
            "pipeline_run_id", "name", name=op.f("uq_pipeline_steps_pipeline_run_id_name")
        ),
    )
    op.create_table(
        "pipeline_step_refs",
        sa.Column("step_id", sa.BigInteger(), nullable=False),
        sa.Column("direction", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("target_id", sa.BigInteger(), nullable=False),
        _text("role"),
        sa.Column("name", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "direction IN ('INPUT', 'OUTPUT')", name=op.f("ck_pipeline_step_refs_direction")
        ),
        sa.CheckConstraint(
            "kind IN ('DATASET_VERSION', 'RUN', 'MODEL_VERSION', 'EVALUATION', 'DEPLOYMENT')",
            name=op.f("ck_pipeline_step_refs_kind"),
        ),
        _fk("pipeline_step_refs", "step_id", "pipeline_steps"),
        sa.PrimaryKeyConstraint(
            "step_id", "direction", "position", name=op.f("pk_pipeline_step_refs")
        ),
    )
    op.create_index(
        op.f("ix_pipeline_step_refs_kind_target_id"), "pipeline_step_refs", ["kind", "target_id"]
    )
    op.create_index(op.f("ix_model_versions_parent_id"), "model_versions", ["parent_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_model_versions_parent_id"), table_name="model_versions")
    op.drop_table("pipeline_step_refs")
    op.drop_table("pipeline_steps")
    op.drop_table("pipeline_runs")
    op.drop_table("pipelines")
