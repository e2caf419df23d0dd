"""server secrets: a random key for signing page tokens

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27

- ``server_secrets`` holds keys every server process on this database shares. The
  one row made here, ``page_tokens``, is 32 random bytes from the operating
  system's CSPRNG: page tokens are signed with it (HMAC-SHA256), so an edited
  token is refused. Tokens handed out before this revision were unsigned and are
  refused after it: a client lists again from the first page.
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "server_secrets",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.Column(
            "create_time",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_server_secrets")),
    )
    op.bulk_insert(table, [{"name": "page_tokens", "value": secrets.token_bytes(32)}])


def downgrade() -> None:
    op.drop_table("server_secrets")
