"""Alembic migrations (batch mode on SQLite) and the PostgreSQL security settings applied after each upgrade."""
