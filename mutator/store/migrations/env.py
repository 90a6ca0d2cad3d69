"""Alembic environment: runs on the connection the store hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from mutator.store.schema import metadata


def run() -> None:
    connection: Connection | None = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through `mutator db upgrade` or Store.migrate()")
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table="mutator_alembic_version",
        render_as_batch=connection.dialect.name == "sqlite",
        # Every dialect here has transactional DDL (SQLite too, though Alembic assumes not):
        # the whole upgrade is one transaction, so a concurrent upgrade that waited for the
        # lock sees either nothing or the head, never a half-done path to re-run.
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
