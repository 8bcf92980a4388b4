"""Authentication rules: passwords, lockout, TOTP (with replay protection), sessions, CSRF."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from callvault.core import clock
from callvault.core.db import Database
from callvault.core.tenant_context import set_tenant
from callvault.security.audit_models import AuditEvent
from tests.fixtures import Account, World, totp_now

LOGIN = "/api/v1/auth/login"


def _body(acc: Account, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"institution": acc.tenant_slug, "username": acc.username, "password": acc.password}
    if acc.totp_secret:
        body["totp"] = totp_now(acc.totp_secret)
    body.update(over)
    return body


def _audit(db: Database, tenant_slug: str, action: str) -> list[AuditEvent]:
    from callvault.tenancy import service as tenancy

    with db.scoped() as s:
        t = tenancy.get_by_slug(s, slug=tenant_slug)
        assert t is not None
        set_tenant(s, t.id)
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


@pytest.mark.sec("SEC-08")
def test_login_with_password_and_totp_then_logout_revokes(world: World, client: TestClient, db: Database) -> None:
    inst = world.institution()
    admin = inst.accounts["admin"]
    r = client.post(LOGIN, json=_body(admin))
    assert r.status_code == 200, r.text
    assert r.json()["stage"] == "full"
    cookie = r.cookies.get("callvault_session")
    assert cookie and "secure" in r.headers["set-cookie"].lower() and "httponly" in r.headers["set-cookie"].lower()
    me = client.get("/api/v1/auth/me").json()
    assert me["tenant_slug"] == inst.slug and "user.manage" in me["permissions"]
    csrf = r.json()["csrf_token"]
    assert client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    # The old cookie no longer works, even if a client kept it.
    client.cookies.set("callvault_session", cookie)
    r = client.get("/api/v1/auth/me")
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    actions = [e.outcome for e in _audit(db, inst.slug, "auth.login")]
    assert actions == ["success"]
    assert len(_audit(db, inst.slug, "auth.logout")) == 1


@pytest.mark.sec("SEC-13")
def test_unknown_user_wrong_password_and_unknown_institution_look_the_same(world: World, client: TestClient) -> None:
    inst = world.institution()
    admin = inst.accounts["admin"]
    wrong = client.post(LOGIN, json=_body(admin, password="Wrong-password-123"))
    unknown = client.post(LOGIN, json=_body(admin, username="nobody-here"))
    no_inst = client.post(LOGIN, json=_body(admin, institution="no-such-bank"))
    for r in (wrong, unknown, no_inst):
        assert r.status_code == 401
        body = r.json()
        assert body["type"] == "urn:callvault:problem:invalid-credentials"
        assert set(body) == {"type", "title", "status", "detail", "instance", "request_id", "errors"}
    assert wrong.json()["detail"] == unknown.json()["detail"] == no_inst.json()["detail"]


@pytest.mark.sec("SEC-09")
def test_lockout_after_five_failures_and_release_after_thirty_minutes(
    world: World, client: TestClient, db: Database
) -> None:
    inst = world.institution(roles=("agent",))
    agent = inst.accounts["agent"]
    for _ in range(5):
        assert client.post(LOGIN, json=_body(agent, password="Wrong-password-123")).status_code == 401
    r = client.post(LOGIN, json=_body(agent))
    assert r.status_code == 403
    assert r.json()["type"] == "urn:callvault:problem:account-locked"
    # While locked, a wrong password reveals nothing about the lock.
    assert client.post(LOGIN, json=_body(agent, password="Wrong-password-123")).status_code == 401
    assert len(_audit(db, inst.slug, "auth.lockout")) == 1
    clock.travel(30 * 60 + 1)
    assert client.post(LOGIN, json=_body(agent)).status_code == 200


@pytest.mark.sec("SEC-08")
def test_totp_missing_wrong_and_replayed(world: World, client: TestClient) -> None:
    inst = world.institution()
    admin = inst.accounts["admin"]
    missing = client.post(LOGIN, json={k: v for k, v in _body(admin).items() if k != "totp"})
    assert missing.status_code == 401
    assert missing.json()["type"] == "urn:callvault:problem:totp-required"
    good = totp_now(admin.totp_secret or "")
    bad = f"{(int(good) + 1) % 1_000_000:06d}"
    assert client.post(LOGIN, json=_body(admin, totp=bad)).status_code == 401
    assert client.post(LOGIN, json=_body(admin, totp=good)).status_code == 200
    replay = client.post(LOGIN, json=_body(admin, totp=good))
    assert replay.status_code == 401, "a TOTP code must not be usable twice"
    clock.travel(31)
    assert client.post(LOGIN, json=_body(admin)).status_code == 200


def test_role_requiring_mfa_must_enrol_before_anything_else(world: World, client: TestClient) -> None:
    inst = world.institution(roles=())
    sup = world.user(inst.slug, role="supervisor", enrol_totp=False)
    r = client.post(LOGIN, json=_body(sup))
    assert r.status_code == 200 and r.json()["stage"] == "enrol_totp"
    csrf = {"X-CSRF-Token": r.json()["csrf_token"]}
    blocked = client.get("/api/v1/users")
    assert blocked.status_code == 403
    assert blocked.json()["type"] == "urn:callvault:problem:totp-enrolment-required"
    enrol = client.post("/api/v1/auth/totp/enrol", headers=csrf).json()
    assert enrol["otpauth_uri"].startswith("otpauth://totp/")
    wrong = client.post("/api/v1/auth/totp/confirm", json={"code": "000000"}, headers=csrf)
    assert wrong.status_code == 401
    assert (
        client.post("/api/v1/auth/totp/confirm", json={"code": totp_now(enrol["secret"])}, headers=csrf).status_code
        == 204
    )
    assert client.get("/api/v1/users").status_code == 200


@pytest.mark.sec("SEC-10")
def test_idle_timeout_and_absolute_lifetime(world: World, login: Any, db: Database) -> None:
    inst = world.institution(roles=("agent",))
    s = login(inst.accounts["agent"])
    clock.travel(14 * 60)
    assert s.get("/api/v1/auth/me").status_code == 200
    clock.travel(15 * 60 + 1)
    r = s.get("/api/v1/auth/me")
    assert r.status_code == 401
    assert r.json()["type"] == "urn:callvault:problem:session-expired"
    assert [e.details for e in _audit(db, inst.slug, "auth.session_expired")] == [{"reason": "idle"}]
    # Active all along (a request every 14 minutes), the session still ends after 12 hours.
    s2 = login(inst.accounts["agent"])
    elapsed = 0
    while s2.get("/api/v1/auth/me").status_code == 200 and elapsed < 13 * 3600:
        clock.travel(14 * 60)
        elapsed += 14 * 60
    assert 12 * 3600 - 14 * 60 < elapsed <= 12 * 3600 + 14 * 60


def test_csrf_token_required_for_cookie_writes(world: World, login: Any) -> None:
    inst = world.institution()
    s = login(inst.accounts["admin"])
    r = s.client.post("/api/v1/roles", json={"name": "qa-team", "permissions": ["report.read"]})
    assert r.status_code == 403
    assert r.json()["type"] == "urn:callvault:problem:csrf"
    r = s.client.post(
        "/api/v1/roles", json={"name": "qa-team", "permissions": ["report.read"]}, headers={"X-CSRF-Token": "wrong"}
    )
    assert r.status_code == 403
    assert s.post("/api/v1/roles", json={"name": "qa-team", "permissions": ["report.read"]}).status_code == 201


@pytest.mark.sec("SEC-11")
@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short1A", "at least 12"),
        ("allletterspassword", "letters and digits"),
        ("123456789012345", "letters and digits"),
    ],
)
def test_password_policy(world: World, login: Any, password: str, reason: str) -> None:
    inst = world.institution()
    s = login(inst.accounts["admin"])
    r = s.post("/api/v1/users", json={"username": "new-agent", "password": password})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "password"
    assert reason in r.json()["errors"][0]["reason"]


@pytest.mark.sec("SEC-11")
def test_password_history_and_hash_format(world: World, login: Any, db: Database) -> None:
    inst = world.institution(roles=("admin", "agent"))
    s = login(inst.accounts["admin"])
    uid = inst.accounts["agent"].user_id
    same = s.patch(f"/api/v1/users/{uid}", json={"password": inst.accounts["agent"].password})
    assert same.status_code == 422 and "last 4" in same.json()["errors"][0]["reason"]
    assert s.patch(f"/api/v1/users/{uid}", json={"password": "Another-password-77"}).status_code == 200
    from callvault.identity.models import User

    with db.scoped() as session:
        set_tenant(session, inst.id)
        user = session.get(User, uid)
        assert user is not None
        assert user.password_hash.startswith("$argon2id$")
        assert "Another-password-77" not in user.password_hash


def test_disabled_user_and_suspended_institution_cannot_log_in(world: World, client: TestClient, login: Any) -> None:
    inst = world.institution(roles=("admin", "agent"))
    admin = login(inst.accounts["admin"])
    agent_session = login(inst.accounts["agent"])
    r = admin.patch(f"/api/v1/users/{inst.accounts['agent'].user_id}", json={"status": "disabled"})
    assert r.status_code == 200
    assert agent_session.get("/api/v1/auth/me").status_code == 403
    assert client.post(LOGIN, json=_body(inst.accounts["agent"])).status_code == 403
    op = login(world.operator_user())
    assert op.patch(f"/api/v1/tenants/{inst.id}", json={"status": "suspended"}).status_code == 200
    assert admin.get("/api/v1/auth/me").status_code == 403


@pytest.mark.sec("SEC-56")
def test_single_session_setting_ends_the_previous_session(world: World, login: Any) -> None:
    op = login(world.operator_user())
    inst = world.institution(roles=("agent",))
    assert op.patch(f"/api/v1/tenants/{inst.id}", json={"settings": {"single_session": True}}).status_code == 200
    first = login(inst.accounts["agent"])
    second = login(inst.accounts["agent"])
    assert first.get("/api/v1/auth/me").status_code == 401
    assert second.get("/api/v1/auth/me").status_code == 200


@pytest.mark.sec("SEC-12")
def test_inactive_accounts_are_disabled(world: World, db: Database, client: TestClient) -> None:
    from callvault.identity import auth
    from callvault.security.principal import system_principal
    from callvault.tenancy import service as tenancy

    inst = world.institution(roles=("agent", "admin"))
    assert client.post(LOGIN, json=_body(inst.accounts["admin"])).status_code == 200
    clock.travel(60 * 86400)
    assert client.post(LOGIN, json=_body(inst.accounts["admin"])).status_code == 200
    clock.travel(31 * 86400)
    with db.scoped() as s:
        t = tenancy.bind(s, slug=inst.slug)
        actor = system_principal(tenant_id=t.id, tenant_slug=t.slug, tenant_kind=t.kind)
        disabled = auth.disable_inactive_users(s, actor=actor, inactive_days=90)
    # The agent never logged in for 91 days; the admin did 31 days ago.
    assert disabled == [inst.accounts["agent"].user_id]
    assert client.post(LOGIN, json=_body(inst.accounts["agent"])).status_code == 403
    assert len(_audit(db, inst.slug, "user.disable_inactive")) == 1
