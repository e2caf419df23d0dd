"""experiment tracking: datasets, runs, metric series, evaluations, scores

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27

- Datasets and their versions (a data batch is a dataset version with a
  batch_id), runs with typed params, labels, inputs, every metric point and each
  key's latest point, evaluations of model versions on dataset versions, and the
  per-(version, dataset version, slice, metric) scores ranking reads.
- ``model_versions.run_id`` links a version to the run that produced it. Free-text
  ``source_run`` values stored before are kept as they were (not linked).
- The free-form training data references stored before (``model_version_data``:
  dataset, version, batch_id) are made into dataset versions, one per distinct
  reference of a project, and linked by ``model_version_data.dataset_version_id``.
  The dataset id is the reference's dataset made into a valid id (lower case,
  other characters as ``_``, ``d_`` in front of a leading non-letter, and a short
  hash of the original when anything was changed or two references would clash);
  the version id likewise from its version, else its batch id, else
  ``unversioned``. The version's read copy of its training data keeps the text
  as stored and gains the dataset version's name as a fifth element.
"""

from __future__ import annotations

import hashlib
import re

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

MIGRATED_BY = "modelreg upgrade 0004"


def upgrade() -> None:
    op.create_table(
        "id_counters",
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("parent_id", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("kind", "parent_id", name=op.f("pk_id_counters")),
    )
    op.create_table(
        "datasets",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("project_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("version_count", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column(
            "create_time",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "update_time",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_datasets_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_datasets")),
        sa.UniqueConstraint("project_id", "name", name=op.f("uq_datasets_project_id_name")),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("project_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("experiment", sa.Text(), server_default="", nullable=False),
        sa.Column("state", sa.Text(), server_default="RUNNING", nullable=False),
        sa.Column(
            "start_time",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "param_list", postgresql.JSONB(astext_type=Text()), server_default="[]", nullable=False
        ),
        sa.Column(
            "input_list", postgresql.JSONB(astext_type=Text()), server_default="[]", nullable=False
        ),
        sa.Column(
            "labels", postgresql.JSONB(astext_type=Text()), server_default="{}", nullable=False
        ),
        sa.Column("code_repo", sa.Text(), server_default="", nullable=False),
        sa.Column("code_commit", sa.Text(), server_default="", nullable=False),
        sa.Column("code_dirty", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("created_by", sa.Text(), server_default="", nullable=False),
        sa.Column("revision", sa.BigInteger(), server_default="1", nullable=False),
        sa.Column(
            "update_time",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "state IN ('RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED')", name=op.f("ck_runs_state")
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_runs_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
        sa.UniqueConstraint("project_id", "name", name=op.f("uq_runs_project_id_name")),
    )
    op.create_index(
        op.f("ix_runs_project_id_start_time_id"),
        "runs",
        ["project_id", "start_time", "id"],
        unique=False,
    )
    op.create_table(
        "dataset_versions",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("dataset_id", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Text(), nullable=False),
        sa.Column("uri", sa.Text(), server_default="", nullable=False),
        sa.Column("digest", sa.Text(), server_default="", nullable=False),
        sa.Column("row_count", sa.BigInteger(), nullable=True),
        sa.Column("schema_json", sa.Text(), server_default="", nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("split", sa.Text(), server_default="", nullable=False),
        sa.Column("batch_id", sa.Text(), server_default="", nullable=False),
        sa.Column("data_start_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("data_end_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "parent_list", postgresql.JSONB(astext_type=Text()), server_default="[]", nullable=False
        ),
        sa.Column(
            "labels", postgresql.JSONB(astext_type=Text()), server_default="{}", nullable=False
        ),
        sa.Column("created_by", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "create_time",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name=op.f("fk_dataset_versions_dataset_id_datasets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dataset_versions")),
        sa.UniqueConstraint(
            "dataset_id", "version", name=op.f("uq_dataset_versions_dataset_id_version")
        ),
    )
    op.create_index(
        op.f("ix_dataset_versions_batch_id"), "dataset_versions", ["batch_id"], unique=False
    )
    op.create_index(
        op.f("ix_dataset_versions_dataset_id_create_time_id"),
        "dataset_versions",
        ["dataset_id", "create_time", "id"],
        unique=False,
    )
    op.create_table(
        "run_labels",
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_run_labels_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", "key", name=op.f("pk_run_labels")),
    )
    op.create_index(op.f("ix_run_labels_key_value"), "run_labels", ["key", "value"], unique=False)
    op.create_table(
        "run_latest_metrics",
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("value", sa.Double(), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("metric_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "key", name=op.f("pk_run_latest_metrics")),
    )
    op.create_table(
        "run_metrics",
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("value", sa.Double(), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "key", "step", "id", name=op.f("pk_run_metrics")),
    )
    op.create_table(
        "run_params",
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("num_value", sa.Double(), nullable=True),
        sa.Column("text_value", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('int', 'float', 'str', 'bool')", name=op.f("ck_run_params_kind")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_run_params_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", "key", name=op.f("pk_run_params")),
    )
    op.create_index(
        op.f("ix_run_params_key_num_value"), "run_params", ["key", "num_value"], unique=False
    )
    op.create_index(
        op.f("ix_run_params_key_text_value"), "run_params", ["key", "text_value"], unique=False
    )
    op.create_table(
        "dataset_version_labels",
        sa.Column("version_id", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["dataset_versions.id"],
            name=op.f("fk_dataset_version_labels_version_id_dataset_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("version_id", "key", name=op.f("pk_dataset_version_labels")),
    )
    op.create_index(
        op.f("ix_dataset_version_labels_key_value"),
        "dataset_version_labels",
        ["key", "value"],
        unique=False,
    )
    op.create_table(
        "dataset_version_parents",
        sa.Column("child_id", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["child_id"],
            ["dataset_versions.id"],
            name=op.f("fk_dataset_version_parents_child_id_dataset_versions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["dataset_versions.id"],
            name=op.f("fk_dataset_version_parents_parent_id_dataset_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("child_id", "position", name=op.f("pk_dataset_version_parents")),
    )
    op.create_index(
        op.f("ix_dataset_version_parents_parent_id"),
        "dataset_version_parents",
        ["parent_id"],
        unique=False,
    )
    op.create_table(
        "evaluations",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("version_id", sa.BigInteger(), nullable=False),
        sa.Column("evaluation_id", sa.Text(), nullable=False),
        sa.Column("dataset_version_id", sa.BigInteger(), nullable=False),
        sa.Column("slice", sa.Text(), server_default="", nullable=False),
        sa.Column("metrics", postgresql.JSONB(astext_type=Text()), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "labels", postgresql.JSONB(astext_type=Text()), server_default="{}", nullable=False
        ),
        sa.Column("created_by", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "create_time",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["dataset_version_id"],
            ["dataset_versions.id"],
            name=op.f("fk_evaluations_dataset_version_id_dataset_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_evaluations_run_id_runs"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_versions.id"],
            name=op.f("fk_evaluations_version_id_model_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluations")),
        sa.UniqueConstraint(
            "version_id", "evaluation_id", name=op.f("uq_evaluations_version_id_evaluation_id")
        ),
    )
    op.create_index(
        op.f("ix_evaluations_dataset_version_id"),
        "evaluations",
        ["dataset_version_id"],
        unique=False,
    )
    op.create_index(op.f("ix_evaluations_run_id"), "evaluations", ["run_id"], unique=False)
    op.create_table(
        "run_inputs",
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("dataset_version_id", sa.BigInteger(), nullable=False),
        sa.Column("role", sa.Text(), server_default="TRAIN", nullable=False),
        sa.CheckConstraint(
            "role IN ('TRAIN', 'VALIDATION', 'TEST')", name=op.f("ck_run_inputs_role")
        ),
        sa.ForeignKeyConstraint(
            ["dataset_version_id"],
            ["dataset_versions.id"],
            name=op.f("fk_run_inputs_dataset_version_id_dataset_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_run_inputs_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", "position", name=op.f("pk_run_inputs")),
    )
    op.create_index(
        op.f("ix_run_inputs_dataset_version_id"), "run_inputs", ["dataset_version_id"], unique=False
    )
    op.create_table(
        "version_scores",
        sa.Column("version_id", sa.BigInteger(), nullable=False),
        sa.Column("dataset_version_id", sa.BigInteger(), nullable=False),
        sa.Column("slice", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("value", sa.Double(), nullable=False),
        sa.Column("evaluation_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_version_id"],
            ["dataset_versions.id"],
            name=op.f("fk_version_scores_dataset_version_id_dataset_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["evaluation_id"],
            ["evaluations.id"],
            name=op.f("fk_version_scores_evaluation_id_evaluations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_versions.id"],
            name=op.f("fk_version_scores_version_id_model_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "version_id", "dataset_version_id", "slice", "key", name=op.f("pk_version_scores")
        ),
    )
    op.create_index(
        "ix_version_scores_rank",
        "version_scores",
        ["dataset_version_id", "slice", "key", "value", "version_id"],
        unique=False,
    )
    op.create_index(
        "ix_version_scores_rank_max",
        "version_scores",
        ["dataset_version_id", "slice", "key", sa.text("value DESC"), "version_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_version_scores_evaluation_id"), "version_scores", ["evaluation_id"], unique=False
    )
    op.add_column(
        "model_version_data", sa.Column("dataset_version_id", sa.BigInteger(), nullable=True)
    )
    op.create_index(
        op.f("ix_model_version_data_dataset_version_id"),
        "model_version_data",
        ["dataset_version_id"],
        unique=False,
    )
    op.create_foreign_key(
        op.f("fk_model_version_data_dataset_version_id_dataset_versions"),
        "model_version_data",
        "dataset_versions",
        ["dataset_version_id"],
        ["id"],
    )
    op.add_column("model_versions", sa.Column("run_id", sa.BigInteger(), nullable=True))
    op.create_index(op.f("ix_model_versions_run_id"), "model_versions", ["run_id"], unique=False)
    op.create_foreign_key(
        op.f("fk_model_versions_run_id_runs"),
        "model_versions",
        "runs",
        ["run_id"],
        ["id"],
        ondelete="SET NULL",
    )

    _migrate_training_data()


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def dataset_id(text: str, taken: set[str]) -> str:
    """A valid dataset id (`[a-z][a-z0-9_-]{0,62}`) for a free-form dataset name."""
    slug = re.sub(r"[^a-z0-9_-]", "_", text.lower())
    if not slug[:1].isalpha():
        slug = "d_" + slug
    if slug != text or len(slug) > 63 or slug in taken:
        slug = f"{slug[:54]}_{_short_hash(text)}"
    taken.add(slug)
    return slug


def version_id(version: str, batch_id: str, taken: set[str]) -> str:
    """A valid dataset version id (`[A-Za-z0-9][A-Za-z0-9._-]{0,127}`) for a reference."""
    text = version or batch_id or "unversioned"
    slug = re.sub(r"[^A-Za-z0-9._-]", "_", text)
    if not slug[:1].isalnum():
        slug = "v" + slug
    if slug != text or len(slug) > 128 or slug in taken:
        slug = f"{slug[:110]}-{_short_hash(version + chr(0) + batch_id)}"
    taken.add(slug)
    return slug


def _migrate_training_data() -> None:
    conn = op.get_bind()
    refs = conn.execute(
        sa.text(
            "SELECT DISTINCT m.project_id, d.dataset, d.version, d.batch_id "
            "FROM model_version_data d "
            "JOIN model_versions v ON v.id = d.version_id JOIN models m ON m.id = v.model_id "
            "ORDER BY 1, 2, 3, 4"
        )
    ).all()
    dataset_ids: dict[tuple[int, str], int] = {}
    names_taken: dict[int, set[str]] = {}
    versions_taken: dict[int, set[str]] = {}
    for project_id, dataset, version, batch_id in refs:
        key = (project_id, dataset)
        if key not in dataset_ids:
            name = dataset_id(dataset, names_taken.setdefault(project_id, set()))
            dataset_ids[key] = conn.execute(
                sa.text("INSERT INTO datasets (project_id, name) VALUES (:p, :n) RETURNING id"),
                {"p": project_id, "n": name},
            ).scalar_one()
        ds = dataset_ids[key]
        vid = version_id(version, batch_id, versions_taken.setdefault(ds, set()))
        dv = conn.execute(
            sa.text(
                "INSERT INTO dataset_versions (dataset_id, version, batch_id, description, "
                "created_by) VALUES (:d, :v, :b, :desc, :by) RETURNING id"
            ),
            {
                "d": ds,
                "v": vid,
                "b": batch_id,
                "desc": "Made by the 0004 upgrade from a training data reference "
                f"(dataset {dataset!r}, version {version!r}, batch_id {batch_id!r}).",
                "by": MIGRATED_BY,
            },
        ).scalar_one()
        conn.execute(
            sa.text(
                "UPDATE model_version_data d SET dataset_version_id = :dv "
                "FROM model_versions v, models m "
                "WHERE v.id = d.version_id AND m.id = v.model_id AND m.project_id = :p "
                "AND d.dataset = :ds AND d.version = :ver AND d.batch_id = :b"
            ),
            {"dv": dv, "p": project_id, "ds": dataset, "ver": version, "b": batch_id},
        )
    conn.execute(
        sa.text(
            "UPDATE datasets s SET version_count = c.n FROM "
            "(SELECT dataset_id, count(*) AS n FROM dataset_versions GROUP BY dataset_id) c "
            "WHERE c.dataset_id = s.id"
        )
    )
    # The read copy: [dataset, version, batch_id, role] as stored, + the name.
    conn.execute(
        sa.text(
            "UPDATE model_versions mv SET data_list = sub.list FROM ("
            "  SELECT d.version_id, jsonb_agg(jsonb_build_array(d.dataset, d.version, "
            "    d.batch_id, d.role, 'projects/' || p.name || '/datasets/' || s.name "
            "    || '/versions/' || dv.version) ORDER BY d.position) AS list"
            "  FROM model_version_data d"
            "  JOIN dataset_versions dv ON dv.id = d.dataset_version_id"
            "  JOIN datasets s ON s.id = dv.dataset_id JOIN projects p ON p.id = s.project_id"
            "  GROUP BY d.version_id) sub "
            "WHERE mv.id = sub.version_id"
        )
    )


def downgrade() -> None:
    op.drop_constraint("fk_model_versions_run_id_runs", "model_versions", type_="foreignkey")
    op.drop_index("ix_model_versions_run_id", table_name="model_versions")
    op.drop_column("model_versions", "run_id")
    op.drop_constraint(
        "fk_model_version_data_dataset_version_id_dataset_versions",
        "model_version_data",
        type_="foreignkey",
    )
    op.drop_index("ix_model_version_data_dataset_version_id", table_name="model_version_data")
    op.drop_column("model_version_data", "dataset_version_id")
    for table in (
        "version_scores", "run_inputs", "evaluations", "dataset_version_parents",
        "dataset_version_labels", "run_params", "run_metrics", "run_latest_metrics",
        "run_labels", "dataset_versions", "runs", "datasets", "id_counters",
    ):  # fmt: skip
        op.drop_table(table)
