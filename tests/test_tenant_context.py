"""The ORM tenant criterion: automatic, loud when missing, never mixing tenants in one session."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select, text, update

from callvault.core.db import Database, group_commit
from callvault.core.errors import TenantContextMissing
from callvault.core.tenant_context import set_tenant, tenant
from callvault.identity.models import Role, User
from callvault.security.audit_models import AuditEvent
from tests.fixtures import World


@pytest.mark.sec("SEC-03")
def test_query_without_tenant_context_fails_loudly(db: Database) -> None:
    with db.scoped() as s:
        with pytest.raises(TenantContextMissing, match="users"):
            s.scalars(select(User)).all()
        with pytest.raises(TenantContextMissing):
            s.execute(update(User).values(display_name="x"))
        with pytest.raises(TenantContextMissing):
            s.scalar(select(func.count()).select_from(AuditEvent))
        s.add(Role(name="orphan"))
        with pytest.raises(TenantContextMissing):
            s.flush()


def test_every_query_is_limited_to_the_context(world: World, db: Database) -> None:
    a = world.institution(roles=("admin", "agent"))
    b = world.institution(roles=("admin",))
    with db.scoped() as s:
        set_tenant(s, a.id)
        users = s.scalars(select(User)).all()
        assert {u.tenant_id for u in users} == {a.id}
        assert len(users) == 2
        # A direct primary-key fetch of B's user finds nothing, as does an UPDATE aimed at it.
        assert s.get(User, b.accounts["admin"].user_id) is None
        res = s.execute(update(User).where(User.id == b.accounts["admin"].user_id).values(display_name="pwned"))
        assert res.rowcount == 0  # type: ignore[attr-defined]
        s.commit()
        # Joins and relationships are filtered too.
        rows = s.execute(select(User.username, Role.name).join(User.roles)).all()
        assert len(rows) == 2


def test_core_statements_on_tenant_tables_are_limited_too(world: World, db: Database) -> None:
    """`Model.__table__` statements bypass ORM loader criteria; the hook scopes them itself."""
    a = world.institution(roles=("admin", "agent"))
    b = world.institution(roles=("admin",))
    users, roles = User.__table__, Role.__table__
    with db.scoped() as s:
        set_tenant(s, a.id)
        assert {r.tenant_id for r in s.execute(select(users.c.tenant_id))} == {a.id}
        assert s.scalar(select(func.count()).select_from(users)) == 2
        aliased_users = users.alias("u")
        assert {r.tenant_id for r in s.execute(select(aliased_users.c.tenant_id))} == {a.id}
        # Nested selects and joins of plain tables are scoped at every level.
        inner = select(users.c.id).where(users.c.username == b.accounts["admin"].username).scalar_subquery()
        assert s.execute(select(users.c.id).where(users.c.id == inner)).all() == []
        joined = select(users.c.id, roles.c.name).join_from(users, roles, roles.c.tenant_id == users.c.tenant_id)
        assert {row.id for row in s.execute(joined)} <= {acc.user_id for acc in a.accounts.values()}
        res = s.execute(update(users).where(users.c.id == b.accounts["admin"].user_id).values(display_name="pwned"))
        assert res.rowcount == 0  # type: ignore[attr-defined]
        set_tenant(s, None)
        with pytest.raises(TenantContextMissing, match="users"):
            s.execute(select(users.c.id)).all()


def test_switching_tenant_forgets_loaded_objects(world: World, db: Database) -> None:
    a = world.institution(roles=("admin",))
    b = world.institution(roles=("admin",))
    with db.scoped() as s:
        set_tenant(s, a.id)
        a_user = s.get(User, a.accounts["admin"].user_id)
        assert a_user is not None
        with tenant(s, b.id):
            # The identity map would otherwise hand out A's row without a query.
            assert s.get(User, a.accounts["admin"].user_id) is None
        assert s.get(User, a.accounts["admin"].user_id) is not None


def test_insert_for_another_tenant_is_refused(world: World, db: Database) -> None:
    a = world.institution(roles=())
    b = world.institution(roles=())
    with db.scoped() as s:
        set_tenant(s, a.id)
        s.add(Role(name="smuggled", tenant_id=b.id))
        with pytest.raises(TenantContextMissing, match="another tenant"):
            s.flush()


@pytest.mark.sec("SEC-04")
def test_raw_sql_only_in_the_data_layer() -> None:
    """Tenant filtering lives in the ORM hooks; hand-written SQL elsewhere could bypass it."""
    import ast
    import pathlib

    allowed = {"core/db.py", "core/tenant_context.py", "core/outbox.py", "migrations/runner.py"}
    root = pathlib.Path(__file__).parents[1] / "src" / "callvault"
    offenders = []
    for path in root.rglob("*.py"):
        rel = str(path.relative_to(root))
        if rel in allowed or rel.startswith("migrations/versions"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            raw_import = (
                isinstance(node, ast.ImportFrom)
                and (node.module or "").startswith("sqlalchemy")
                and any(a.name in ("text", "literal_column") for a in node.names)
            )
            driver_sql = isinstance(node, ast.Attribute) and (
                node.attr == "exec_driver_sql"
                or (node.attr == "text" and isinstance(node.value, ast.Name) and node.value.id in ("sa", "sqlalchemy"))
            )
            if raw_import or driver_sql:
                offenders.append(rel)
    assert offenders == []


def test_sqlite_pragmas(db: Database, backend: str) -> None:
    if backend != "sqlite":
        pytest.skip("SQLite pragmas")
    with db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 5000
        # NORMAL: a commit returns only after the group commit's fsync of the WAL (core/groupcommit.py), so an
        # acknowledged write survives a power cut as with FULL.
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 1
    assert group_commit(db.engine) is not None


@pytest.mark.sec("SEC-03")
def test_tenant_context_never_leaks_between_concurrent_requests(world: World, login: Any) -> None:
    """Interleaved requests of two institutions on the shared connection pool each see only their own rows."""
    from concurrent.futures import ThreadPoolExecutor

    a = world.institution(roles=("admin",))
    b = world.institution(roles=("admin",))
    sessions = {a.slug: login(a.accounts["admin"]), b.slug: login(b.accounts["admin"])}
    own_users = {
        slug: {u["id"] for u in s.get("/api/v1/users?limit=200").json()["items"]} for slug, s in sessions.items()
    }
    assert own_users[a.slug].isdisjoint(own_users[b.slug])

    def fetch(i: int) -> tuple[str, set[str]]:
        slug = a.slug if i % 2 else b.slug
        r = sessions[slug].get("/api/v1/users?limit=200")
        assert r.status_code == 200
        return slug, {u["id"] for u in r.json()["items"]}

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(fetch, range(200)))
    for slug, ids in results:
        assert ids == own_users[slug]
