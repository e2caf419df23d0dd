"""Alembic environment. Run through storage/migrate.py, which hands over a live
connection in ``config.attributes["connection"]``."""

from __future__ import annotations

from alembic import context

from modelreg_server.storage.tables import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reachable by running alembic by hand
    raise RuntimeError("run migrations with `modelreg db upgrade`, not the alembic CLI")

context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
