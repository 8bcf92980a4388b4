"""Deny by default, no privilege escalation, separation of duties between admin and auditor."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from fastapi import APIRouter, FastAPI

from callvault.api import check_route_policies
from callvault.identity.permissions import builtin_roles
from tests.fixtures import World


@pytest.mark.sec("SEC-14")
def test_every_api_route_declares_a_permission(app: FastAPI) -> None:
    check_route_policies(app)


@pytest.mark.sec("SEC-14")
def test_app_refuses_to_start_with_an_unguarded_route() -> None:
    rogue = FastAPI()
    router = APIRouter(prefix="/api/v1")

    @router.get("/rogue")
    def rogue_route() -> dict[str, str]:
        return {}

    rogue.include_router(router)
    with pytest.raises(RuntimeError, match="/api/v1/rogue"):
        check_route_policies(rogue)


@pytest.mark.sec("SEC-15")
def test_admin_and_auditor_duties_are_disjoint() -> None:
    roles = {r.name: r for r in builtin_roles("institution")}
    assert "audit.read" not in roles["admin"].permissions
    assert roles["auditor"].permissions.isdisjoint({"user.manage", "role.manage", "apiclient.manage"})
    assert all(r.requires_mfa for r in roles.values() if r.name != "agent")


@pytest.mark.sec("SEC-16")
def test_institution_admin_cannot_escalate(world: World, login: Any) -> None:
    inst = world.institution(roles=("admin", "agent"))
    s = login(inst.accounts["admin"])
    # A permission of the operator scope cannot exist in an institution.
    r = s.post("/api/v1/roles", json={"name": "rogue", "permissions": ["tenant.manage"]})
    assert r.status_code == 422 and "tenant.manage" in r.json()["errors"][0]["reason"]
    # Nor a permission the admin does not hold itself.
    r = s.post("/api/v1/roles", json={"name": "rogue", "permissions": ["audit.read"]})
    assert r.status_code == 403
    # Nor can the admin hand out the built-in auditor role (it holds audit.read).
    roles = {x["name"]: x["id"] for x in s.get("/api/v1/roles").json()["items"]}
    r = s.patch(f"/api/v1/users/{inst.accounts['agent'].user_id}", json={"role_ids": [roles["auditor"]]})
    assert r.status_code == 403
    # Staffing with the operational built-in roles is the admin's job, though: agents and supervisors.
    r = s.patch(
        f"/api/v1/users/{inst.accounts['agent'].user_id}", json={"role_ids": [roles["agent"], roles["supervisor"]]}
    )
    assert r.status_code == 200, r.text
    # But never to itself: an admin cannot give itself the supervisor's reveal permission.
    r = s.patch(f"/api/v1/users/{inst.accounts['admin'].user_id}", json={"role_ids": [roles["supervisor"]]})
    assert r.status_code == 403
    # The agent itself can do none of this.
    agent = login(inst.accounts["agent"])
    assert agent.get("/api/v1/users").status_code == 403
    assert agent.post("/api/v1/roles", json={"name": "x1", "permissions": []}).status_code == 403


def test_institution_admin_manages_its_own_users_and_roles(world: World, login: Any) -> None:
    inst = world.institution()
    s = login(inst.accounts["admin"])
    role = s.post("/api/v1/roles", json={"name": "qa", "permissions": ["report.read"], "requires_mfa": False})
    assert role.status_code == 201
    user = s.post(
        "/api/v1/users", json={"username": "qa-li", "password": "Quality-check-2026", "role_ids": [role.json()["id"]]}
    )
    assert user.status_code == 201, user.text
    assert user.json()["roles"] == [{"id": role.json()["id"], "name": "qa"}]
    assert s.delete(f"/api/v1/roles/{role.json()['id']}").status_code == 409
    assert s.patch(f"/api/v1/users/{user.json()['id']}", json={"role_ids": []}).status_code == 200
    assert s.delete(f"/api/v1/roles/{role.json()['id']}").status_code == 204
    builtin = next(x for x in s.get("/api/v1/roles").json()["items"] if x["name"] == "agent")
    assert s.patch(f"/api/v1/roles/{builtin['id']}", json={"description": "x"}).status_code == 409
    # 2FA reset by the admin: the user must enrol again.
    assert s.post(f"/api/v1/users/{inst.accounts['admin'].user_id}/reset-2fa").json()["mfa_enrolled"] is False


def test_operator_creates_institution_with_first_admin(world: World, login: Any) -> None:
    op = login(world.operator_user())
    r = op.post(
        "/api/v1/tenants",
        json={
            "slug": "huaxia-bank",
            "name": "华夏银行",
            "initial_admin": {"username": "hx-admin", "password": "First-admin-2026"},
        },
    )
    if r.status_code == 409:  # the same database is reused within a run
        pytest.skip("slug already taken in this database")
    assert r.status_code == 201, r.text
    assert r.json()["kind"] == "institution"
    assert op.post("/api/v1/tenants", json={"slug": "operator", "name": "x"}).status_code == 422
    assert op.post("/api/v1/tenants", json={"slug": "huaxia-bank", "name": "x"}).status_code == 409
    # The run's database holds every test's institutions: walk all pages.
    slugs: set[str] = set()
    url: str | None = "/api/v1/tenants?limit=200"
    while url:
        page = op.get(url).json()
        slugs |= {t["slug"] for t in page["items"]}
        url = f"/api/v1/tenants?limit=200&cursor={quote(page['next_cursor'])}" if page.get("next_cursor") else None
    assert "huaxia-bank" in slugs


def test_upgrade_brings_builtin_roles_of_existing_tenants_to_the_catalogue(world: World) -> None:
    """A release that adds permissions to a built-in role must reach institutions created before it."""
    from sqlalchemy import select

    from callvault.core.tenant_context import tenant
    from callvault.identity.models import Role
    from callvault.security.audit_models import AuditEvent
    from callvault.tenancy import service as tenancy

    inst = world.institution(roles=("admin",))
    admin_spec = next(r for r in builtin_roles("institution") if r.name == "admin")
    dropped = sorted(admin_spec.permissions)[0]
    with world.db.scoped() as session, tenant(session, inst.id):
        admin = session.scalars(select(Role).where(Role.name == "admin")).one()
        admin.permissions = [p for p in admin.permissions if p != dropped]  # as an older release left it
        session.commit()
    with world.db.scoped() as session:
        changed = tenancy.sync_builtin_roles_everywhere(session)
        session.commit()
        assert changed >= 1
        with tenant(session, inst.id):
            admin = session.scalars(select(Role).where(Role.name == "admin")).one()
            assert admin.permissions == sorted(admin_spec.permissions)
            synced = session.scalars(select(AuditEvent).where(AuditEvent.action == "role.builtin_sync")).all()
            assert [e.object_id for e in synced] == [str(admin.id)]
    with world.db.scoped() as session:
        assert tenancy.sync_builtin_roles_everywhere(session) == 0  # idempotent
