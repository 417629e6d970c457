"""The Alembic layer: an Alembic project's files, the one module that drives Alembic, history walks, schema snapshots."""
