"""Alembic migrations of the audit store (configured in code by :class:`~auditor.store.Store`)."""
