"""Console pages over HTTP (no browser): permissions, tenant isolation, CSRF, no-store, watermark, audited actions."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select

from callvault.api import mounted_routes
from callvault.contacts import import_service
from callvault.core.db import Database
from callvault.core.tenant_context import set_tenant
from callvault.dnc.policy import Purpose
from callvault.security.audit_models import AuditEvent
from callvault.tenancy import service as tenancy
from callvault.web.console import check_console_policies
from tests.contacts.db_helpers import actor_for
from tests.contacts.test_import_api import CSV, multipart
from tests.fixtures import PASSWORD, World
from tests.ivr.flows import card_service_yaml


def _form(s: Any, url: str, **fields: Any) -> Any:
    return s.client.post(url, data={"csrf": s.csrf, **fields}, follow_redirects=False)


def _list(db: Database, slug: str, name: str) -> uuid.UUID:
    actor = actor_for(db, slug)
    with db.scoped() as session:
        tenancy.bind(session, slug=slug)
        # Not marketing: these tests are about the pages, and marketing would also need consent per number.
        list_id, _ = import_service.ensure_list(session, actor=actor, name=name, purpose=Purpose.CARE)
        return list_id


def _actions(db: Database, tenant_id: uuid.UUID) -> list[str]:
    with db.scoped() as session:
        set_tenant(session, tenant_id)
        return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))


def _import(s: Any, list_id: uuid.UUID) -> str:
    body, headers = multipart("名单.csv", CSV)  # screened for the list's own purpose
    r = s.post(f"/api/v1/contact-lists/{list_id}/imports", content=body, headers=headers)
    assert r.status_code == 202, r.text
    import_id: str = r.json()["id"]
    deadline = time.monotonic() + 60
    while s.get(f"/api/v1/imports/{import_id}").json()["status"] in ("queued", "running"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return import_id


def test_pages_are_not_cached_carry_a_watermark_and_show_sections_by_permission(world: World, login: Any) -> None:
    inst = world.institution(roles=("admin", "agent"))
    admin, agent = login(inst.accounts["admin"]), login(inst.accounts["agent"])
    r = admin.get("/console/users")
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    assert f"user:{inst.accounts['admin'].user_id}" in r.text  # watermark with the viewer's id
    assert 'href="/console/ivr"' in r.text and 'href="/console/audit"' not in r.text  # admin has no audit.read
    home = agent.get("/console")
    assert 'href="/console/users"' not in home.text and 'href="/console/lists"' in home.text
    assert agent.get("/console/users").status_code == 403
    assert admin.get("/console/audit").status_code == 403
    # Not signed in: the sign-in page; an id that is not one: 404, never a stack trace.
    assert admin.client.get("/console/users/not-an-id").status_code == 404
    with TestClient(admin.client.app, base_url="https://testserver") as anonymous:
        r = anonymous.get("/console/users", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"


def test_admin_creates_an_operator_assigns_roles_and_disables_it(world: World, db: Database, login: Any) -> None:
    inst = world.institution()
    admin = login(inst.accounts["admin"])
    clerk = {"name": "list-clerk", "permissions": ["contact.read", "contact.import"], "requires_mfa": False}
    assert admin.post("/api/v1/roles", json=clerk).status_code == 201
    page = admin.get("/console/users").text
    roles = dict(re.findall(r'name="role_ids" value="([0-9a-f-]+)" id="role-([a-z_-]+)"', page))
    role_ids = {name: rid for rid, name in roles.items()}
    # The admin staffs agents with the built-in role, but cannot hand out the auditor's (separation of duties):
    # offered greyed out, and refused.
    assert not re.search(r'id="role-agent" disabled', page)
    assert re.search(r'id="role-auditor" disabled', page)
    r = _form(admin, "/console/users", username="audit-wu", password="pw-123456789", role_ids=[role_ids["auditor"]])
    assert r.status_code == 422 and "permissions you do not have" in r.text
    r = _form(admin, "/console/users", username="agent-wu", password="pw-123456789", role_ids=[role_ids["agent"]])
    assert r.status_code == 303, r.text
    # Without the CSRF token the form is refused and nothing is created.
    r = admin.client.post("/console/users", data={"username": "nocsrf", "password": "x" * 12}, follow_redirects=False)
    assert r.status_code == 403
    r = _form(admin, "/console/users", username="bad name!", password="pw-123456789")
    assert r.status_code == 422 and "username" in r.text
    r = _form(admin, "/console/users", username="clerk-li", password="pw-123456789", role_ids=[role_ids["list-clerk"]])
    assert r.status_code == 303, r.text
    user_url = r.headers["location"].split("?")[0]
    assert "clerk-li" in admin.get(user_url).text
    r = _form(admin, user_url, action="roles", role_ids=[role_ids["list-clerk"], role_ids["admin"]])
    assert r.status_code == 303
    assert re.search(r'id="user-roles">(admin, list-clerk|list-clerk, admin)<', admin.get(user_url).text)
    assert _form(admin, user_url, action="disable").status_code == 303
    assert 'id="enable-user"' in admin.get(user_url).text
    assert {"user.create", "user.update"} <= set(_actions(db, inst.id))


def test_institution_a_cannot_open_pages_or_objects_of_institution_b(world: World, db: Database, login: Any) -> None:
    a, b = world.institution(roles=("admin", "supervisor")), world.institution(roles=("admin",))
    b_admin = login(b.accounts["admin"])
    b_list = _list(db, b.slug, "B名单")
    b_import = _import(b_admin, b_list)
    b_flow = b_admin.post("/api/v1/ivr/flows", json={"name": "b", "entry_point": "+861000000001"}).json()["id"]
    b_contact = b_admin.get(f"/api/v1/contacts?list_id={b_list}").json()["items"][0]["id"]
    b_user = b.accounts["admin"].user_id
    a_admin, a_sup = login(a.accounts["admin"]), login(a.accounts["supervisor"])
    for url in (
        f"/console/lists/{b_list}",
        f"/console/imports/{b_import}",
        f"/console/imports/{b_import}/progress",
        f"/console/imports/{b_import}/errors",
        f"/console/ivr/{b_flow}",
        f"/console/users/{b_user}",
        f"/console/contacts/{b_contact}",
    ):
        assert a_admin.get(url).status_code == 404, url
    assert _form(a_sup, f"/console/contacts/{b_contact}/reveal", fields=["name"], reason="complaint").status_code == 404
    assert _form(a_admin, f"/console/ivr/{b_flow}/publish").status_code == 404
    assert _form(a_admin, f"/console/users/{b_user}", action="disable").status_code == 404
    assert a_admin.get("/console/institutions").status_code == 403
    assert "contact.import.report.export" not in _actions(db, b.id)


def test_reveal_needs_a_reason_and_is_audited(world: World, db: Database, login: Any) -> None:
    inst = world.institution(roles=("admin", "supervisor"))
    admin, sup = login(inst.accounts["admin"]), login(inst.accounts["supervisor"])
    list_id = _list(db, inst.slug, "回访")
    import_id = _import(admin, list_id)
    listing = admin.get(f"/console/lists/{list_id}").text
    assert "138****8000" in listing and "13800138000" not in listing
    assert f"/console/imports/{import_id}" in listing
    contact_id = re.findall(r'href="/console/contacts/([0-9a-f-]+)"', listing)[0]
    assert 'id="reveal-form"' not in admin.get(f"/console/contacts/{contact_id}").text  # admin cannot reveal
    r = _form(sup, f"/console/contacts/{contact_id}/reveal", fields=["phones"])
    assert r.status_code == 422 and "13800138000" not in r.text
    r = _form(sup, f"/console/contacts/{contact_id}/reveal", fields=["phones"], reason="complaint", ticket="CASE-7")
    assert r.status_code == 200 and "+8613800138000" in r.text and r.headers["cache-control"] == "no-store"
    with db.scoped() as session:
        set_tenant(session, inst.id)
        reveal = session.scalars(select(AuditEvent).where(AuditEvent.action == "pii.reveal")).one()
    assert reveal.details["reason"] == "complaint" and reveal.details.get("ticket") == "CASE-7"
    report = admin.get(f"/console/imports/{import_id}/errors")
    assert report.status_code == 200 and report.headers["cache-control"] == "no-store"
    assert "contact.import.report.export" in _actions(db, inst.id)


def test_ivr_publish_shows_node_errors_then_publishes_and_rolls_back(world: World, db: Database, login: Any) -> None:
    inst = world.institution()
    admin = login(inst.accounts["admin"])
    r = _form(admin, "/console/ivr", name="卡服务", entry_point="+861088880000")
    assert r.status_code == 303
    flow_url = r.headers["location"].split("?")[0]
    assert _form(admin, f"{flow_url}/draft", document="start: [").status_code == 422
    assert _form(admin, f"{flow_url}/draft", document=card_service_yaml()).status_code == 303
    r = _form(admin, f"{flow_url}/publish")
    assert r.status_code == 422
    assert "nodes.to_agent.queue" in r.text  # the institution has no "cards" queue yet
    simple = "start: hello\nnodes:\n  hello: {type: hangup, prompt: {say: 您好}}\n"
    assert _form(admin, f"{flow_url}/draft", document=simple).status_code == 303
    assert _form(admin, f"{flow_url}/publish").status_code == 303
    second = simple.replace("您好", "再见")
    assert _form(admin, f"{flow_url}/draft", document=second).status_code == 303
    assert _form(admin, f"{flow_url}/publish").status_code == 303
    page = admin.get(flow_url).text
    assert "再见" in page and "null" not in page  # the editor shows the document as written, not every default
    first_version = re.findall(r'action="(/console/ivr/[^"]+/rollback)"', page)
    assert len(first_version) == 1
    assert _form(admin, first_version[0]).status_code == 303
    assert 'id="published-number">3<' in admin.get(flow_url).text
    assert {"ivr.flow.publish", "ivr.flow.rollback"} <= set(_actions(db, inst.id))


def test_audit_view_filters_and_export_is_audited(world: World, db: Database, login: Any) -> None:
    inst = world.institution(roles=("admin", "auditor"))
    auditor = login(inst.accounts["auditor"])
    page = auditor.get("/console/audit?action=user.")
    assert page.status_code == 200 and "user.create" in page.text and "auth.login" not in page.text
    assert auditor.get("/console/audit?since=yesterday").status_code == 422
    bad = auditor.get("/console/audit?before=abc")
    assert bad.status_code == 400 and bad.headers["content-type"].startswith("text/html")
    r = auditor.get("/console/audit/export")
    assert r.status_code == 200 and r.headers["content-disposition"].startswith("attachment")
    assert r.headers["cache-control"] == "no-store"
    assert '"action": "user.create"' in r.text or '"action":"user.create"' in r.text
    assert "audit.export" in _actions(db, inst.id)


def test_operator_sees_institutions_with_totals_only(world: World, db: Database, login: Any) -> None:
    inst = world.institution()
    admin = login(inst.accounts["admin"])
    _import(admin, _list(db, inst.slug, "totals"))
    operator = login(world.operator_user())
    page = operator.get("/console/institutions")
    assert page.status_code == 200
    row = re.search(rf'<tr data-slug="{inst.slug}">(.*?)</tr>', page.text, re.S)
    assert row is not None
    assert re.search(r'data-count="contacts">2<', row.group(1))
    assert "138" not in row.group(1)  # counts, never a number of a customer
    slug = f"new{uuid.uuid4().hex[:8]}"
    r = _form(
        operator, "/console/institutions", slug=slug, name="新银行", admin_username="boss", admin_password=PASSWORD
    )
    assert r.status_code == 303
    with db.scoped() as session:
        new_id = tenancy.get_by_slug(session, slug=slug).id  # type: ignore[union-attr]
    assert _form(operator, f"/console/institutions/{new_id}/status", status="suspended").status_code == 303
    assert 'id="activate-' + slug + '"' in operator.get("/console/institutions").text
    assert operator.get("/console/lists").status_code == 403  # no contact.read for operator staff


def test_every_console_page_declares_its_permission(app: Any) -> None:
    pages = [(m.path, m.route) for m in mounted_routes(app) if m.path.startswith("/console")]
    assert len(pages) >= 25
    check_console_policies(pages)
    unguarded = APIRoute("/console/oops", lambda: None)
    with pytest.raises(RuntimeError, match="/console/oops"):
        check_console_policies([*pages, ("/console/oops", unguarded)])


def test_admin_creates_a_role_within_its_own_permissions(world: World, db: Database, login: Any) -> None:
    inst = world.institution()
    admin = login(inst.accounts["admin"])
    page = admin.get("/console/roles")
    assert page.status_code == 200 and 'id="perm-agent.handle"' not in page.text  # not held: not offered
    r = _form(admin, "/console/roles", name="list-clerk", permissions=["contact.read", "contact.import"])
    assert r.status_code == 303
    r = _form(admin, "/console/roles", name="escalate", permissions=["agent.handle"])
    assert r.status_code == 422 and "you can only grant what you hold" in r.text
    listing = admin.get("/console/roles").text
    assert re.search(r'data-role="list-clerk">.*?contact.import, contact.read', listing, re.S)
    role_id = re.search(r'action="/console/roles/([0-9a-f-]+)/delete"', listing)
    assert role_id is not None
    assert _form(admin, f"/console/roles/{role_id.group(1)}/delete").status_code == 303
    assert "list-clerk" not in admin.get("/console/roles").text
    assert {"role.create", "role.delete"} <= set(_actions(db, inst.id))
