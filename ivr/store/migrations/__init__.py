"""Alembic migrations of the store; run by :func:`ivr.store.db.upgrade` at start-up, never by hand."""
