"""Persistence: SQL tables and repository (SQLAlchemy + Alembic), and the sealed-model blobs."""
