"""Alembic environment: migrates the connection :func:`ivr.store.db.upgrade` hands over.

There is no ``alembic.ini`` with a URL in it: the URL is a deployment setting (``IVR_DATABASE_URL``), so the server
builds the engine and passes an open connection in ``config.attributes["connection"]``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from ivr.store.models import Base


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things: copy-and-move
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through ivr.store.db.upgrade(engine), which supplies the connection")
run_migrations(connection)
