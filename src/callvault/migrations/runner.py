"""Run migrations programmatically and apply PostgreSQL grants and row-level security afterwards."""

from __future__ import annotations

import re
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from callvault.all_models import metadata
from callvault.config import Settings
from callvault.core.db import make_engine
from callvault.core.models import PLATFORM_TABLES

HERE = Path(__file__).parent
ROLE_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# Append-only tables: the application role may add and read rows, never change or remove them.
APPEND_ONLY = ("audit_events", "audit_checkpoints", "tenant_key_tombstones")
# Wrapped keys are never changed in place: a rotation inserts a new version, retire/destroy delete.
IMMUTABLE = ("tenant_keys",)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(settings: Settings, revision: str = "head") -> None:
    url = settings.effective_admin_url
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), revision)
    if url.startswith("postgresql"):
        engine = make_engine(url, settings=settings)
        try:
            with engine.begin() as conn:
                apply_postgres_security(conn, app_role=settings.database_app_role)
        finally:
            engine.dispose()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def is_at_head(engine: Engine) -> bool:
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    return current == head_revision()


def tenant_tables() -> list[str]:
    return sorted(t.name for t in metadata.sorted_tables if "tenant_id" in t.c and t.name not in PLATFORM_TABLES)


def apply_postgres_security(conn: Connection, *, app_role: str) -> None:
    """Create the non-owner application role, grant it the tables, and force RLS on every tenant-owned table.

    Derived from the models, so a table added by a later migration is covered without writing anything here.
    """
    if not ROLE_RE.match(app_role):
        raise ValueError("invalid application role name")
    conn.execute(
        text(
            f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{app_role}') THEN "
            f"CREATE ROLE {app_role} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE; END IF; END $$"
        )
    )
    db_name = conn.execute(text("SELECT current_database()")).scalar_one()
    conn.execute(text(f'GRANT CONNECT ON DATABASE "{db_name}" TO {app_role}'))
    conn.execute(text(f"GRANT USAGE ON SCHEMA public TO {app_role}"))
    conn.execute(text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {app_role}"))
    conn.execute(text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {app_role}"))
    conn.execute(text(f"REVOKE UPDATE, DELETE ON alembic_version FROM {app_role}"))
    for table in APPEND_ONLY:
        conn.execute(text(f"REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM {app_role}"))
    for table in IMMUTABLE:
        conn.execute(text(f"REVOKE UPDATE, TRUNCATE ON {table} FROM {app_role}"))
    for table in tenant_tables():
        conn.execute(text(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY"))
        conn.execute(text(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY"))
        conn.execute(text(f"DROP POLICY IF EXISTS tenant_isolation ON {table}"))
        # An unset context is NULL and matches nothing: default deny.
        conn.execute(
            text(
                f"CREATE POLICY tenant_isolation ON {table} "
                f"USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid) "
                f"WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)"
            )
        )
