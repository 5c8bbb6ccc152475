"""Alembic environment for kumo. kumo runs migrations itself (`kumo.storage.migrate`), handing alembic
an open connection; there is no alembic.ini."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
