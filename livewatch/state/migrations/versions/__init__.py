"""Alembic revisions of the state schema, one file per step, named by their four-digit schema version."""
