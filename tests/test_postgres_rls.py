"""PostgreSQL row-level security: the backstop behind the ORM criterion."""

from __future__ import annotations

import pytest
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.exc import DBAPIError, ProgrammingError

from callvault.core.db import Database
from callvault.core.tenant_context import UNSCOPED, set_tenant
from callvault.identity.models import User
from callvault.migrations.runner import tenant_tables
from callvault.security.audit_models import AuditEvent
from tests.fixtures import World

pytestmark = pytest.mark.postgres_only


@pytest.mark.sec("SEC-01")
def test_catalog_rls_forced_on_every_tenant_table_and_app_role_is_powerless(db: Database) -> None:
    with db.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class "
                "WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace"
            )
        ).all()
        flags = {r[0]: (r[1], r[2]) for r in rows}
        for table in tenant_tables():
            assert flags[table] == (True, True), table
        role = conn.execute(
            text("SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = current_user")
        ).one()
        assert tuple(role) == (False, False, False, False)
        owner = conn.execute(text("SELECT tableowner FROM pg_tables WHERE tablename = 'users'")).scalar()
        assert owner != conn.execute(text("SELECT current_user")).scalar()


@pytest.mark.sec("SEC-02")
def test_bypassing_the_orm_filter_still_returns_nothing_of_another_tenant(world: World, db: Database) -> None:
    a = world.institution(roles=("admin",))
    b = world.institution(roles=("admin",))
    with db.scoped() as s:
        set_tenant(s, a.id)
        unscoped = s.scalars(select(User).execution_options(**{UNSCOPED: True})).all()
        assert unscoped and {u.tenant_id for u in unscoped} == {a.id}
        assert s.scalar(select(func.count()).select_from(User).execution_options(**{UNSCOPED: True})) == len(unscoped)
        raw = s.execute(text("SELECT count(*) FROM users WHERE tenant_id = :b"), {"b": b.id}).scalar()
        assert raw == 0
        hit = s.execute(
            update(User).where(User.tenant_id == b.id).values(display_name="x").execution_options(**{UNSCOPED: True})
        )
        assert hit.rowcount == 0  # type: ignore[attr-defined]
    with db.scoped() as s:
        # No context at all: default deny.
        assert s.execute(text("SELECT count(*) FROM users")).scalar() == 0


def test_rls_refuses_writing_rows_for_another_tenant(world: World, db: Database) -> None:
    a = world.institution(roles=())
    b = world.institution(roles=())
    with db.scoped() as s:
        set_tenant(s, a.id)
        with pytest.raises(ProgrammingError, match="row-level security"):
            s.execute(
                insert(AuditEvent.__table__).values(
                    id=b.id,
                    tenant_id=b.id,
                    at=func.now(),
                    created_at=func.now(),
                    actor="x",
                    action="x",
                    object_type="",
                    object_id="",
                    outcome="x",
                    source_ip="",
                    request_id="",
                    details={},
                )
            )


@pytest.mark.sec("SEC-21")
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET outcome = 'tampered'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
    ],
)
def test_app_role_cannot_alter_audit_records(world: World, db: Database, statement: str) -> None:
    a = world.institution(roles=("admin",))
    with db.scoped() as s:
        set_tenant(s, a.id)
        assert s.scalar(select(func.count()).select_from(AuditEvent)) > 0
        with pytest.raises(DBAPIError, match="permission denied"):
            s.execute(text(statement))
