"""Alembic environment: the connection comes from `digest.store.migrate`; the target is the models' metadata."""

from alembic import context
from sqlmodel import SQLModel

import digest.models  # noqa: F401  (registers every table on SQLModel.metadata)
from digest.store.migrate import keep_name

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=SQLModel.metadata, render_as_batch=True,
                  compare_type=True, include_name=keep_name)
with context.begin_transaction():
    context.run_migrations()
