"""Alembic migrations for the store (`digest db upgrade`), for SQLite and PostgreSQL alike."""
