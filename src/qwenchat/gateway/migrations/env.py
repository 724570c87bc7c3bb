"""Alembic's entry point: runs the migrations on the connection ``migrate()`` passes in."""

from __future__ import annotations

from alembic import context

from qwenchat.gateway.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata)
with context.begin_transaction():
    context.run_migrations()
