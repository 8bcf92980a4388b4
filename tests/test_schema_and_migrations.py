"""Migrations build the schema from empty on this backend and match the models; every table is classified."""

from __future__ import annotations

import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from callvault.all_models import metadata
from callvault.config import Settings
from callvault.core.models import PLATFORM_TABLES
from callvault.migrations.runner import head_revision, tenant_tables, upgrade
from tests.conftest import BACKEND, _pg_admin


@pytest.mark.sec("SEC-01")
def test_every_table_is_tenant_scoped_or_explicitly_platform_wide() -> None:
    for table in metadata.sorted_tables:
        if table.name in PLATFORM_TABLES:
            continue
        assert "tenant_id" in table.c, f"{table.name} is neither tenant-scoped nor on the platform allowlist"
        assert not table.c.tenant_id.nullable
    assert set(tenant_tables()) >= {"users", "roles", "audit_events", "outbox_events", "api_clients"}


def test_upgrade_from_empty_matches_models(settings: Settings, tmp_path: object) -> None:
    """A brand-new database (not the one the suite uses) upgraded to head has no drift from the models."""
    if BACKEND == "postgresql":
        name = f"cvmig_{uuid.uuid4().hex[:10]}"
        with _pg_admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        admin_url = settings.effective_admin_url.rsplit("/", 1)[0] + f"/{name}"
        fresh = settings.model_copy(update={"database_admin_url": admin_url, "database_url": admin_url})
    else:
        name = ""
        fresh = settings.model_copy(
            update={"database_url": f"sqlite+pysqlite:///{tmp_path}/fresh.sqlite3", "database_admin_url": ""}
        )
    try:
        upgrade(fresh)
        upgrade(fresh)  # idempotent
        engine = create_engine(fresh.effective_admin_url)
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            assert ctx.get_current_revision() == head_revision()
            diff = compare_metadata(ctx, metadata)
            assert diff == [], f"models and migrations differ: {diff}"
            assert set(inspect(conn).get_table_names()) >= {t.name for t in metadata.sorted_tables}
        engine.dispose()
    finally:
        if name:
            with _pg_admin() as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
