"""Alembic environment: runs migrations on the connection that Database.migrate() passes."""

from alembic import context

import tocsin.store.models  # noqa: F401  (registers every table on the metadata)
from tocsin.store.base import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through tocsin.store.database.Database.migrate()")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
