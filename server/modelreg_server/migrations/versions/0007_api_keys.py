"""api keys: who may call the server, on which project, with which role

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27

- ``api_keys``: one row per key. The token itself is never stored: only
  SHA-256 of it (the token holds 256 random bits, so a fast hash is enough),
  looked up by ``key_id``, the random id the token starts with. A project key
  has a role on one project (deleted with it); a server admin key has none.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.Text(), nullable=False),
        sa.Column("secret_hash", sa.LargeBinary(), nullable=False),
        sa.Column("project_id", sa.BigInteger(), nullable=True),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("owner", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("rate_limit", sa.Double(), server_default="0", nullable=False),
        sa.Column("expire_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "create_time",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("created_by", sa.Text(), server_default="", nullable=False),
        sa.Column("revoke_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.Text(), server_default="", nullable=False),
        sa.CheckConstraint(
            "role IN ('reader', 'writer', 'admin', 'server_admin')",
            name=op.f("ck_api_keys_role_known"),
        ),
        sa.CheckConstraint(
            "(role = 'server_admin') = (project_id IS NULL)",
            name=op.f("ck_api_keys_server_admin_has_no_project"),
        ),
        sa.CheckConstraint("rate_limit >= 0", name=op.f("ck_api_keys_rate_limit_not_negative")),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_api_keys_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_api_keys")),
    )
    op.create_index(
        "ix_api_keys_project_create_time",
        "api_keys",
        ["project_id", sa.text("create_time DESC"), "key_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_api_keys_project_create_time", table_name="api_keys")
    op.drop_table("api_keys")
