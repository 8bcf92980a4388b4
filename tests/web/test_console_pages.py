"""The institution and operator consoles in a real browser (Debian Chromium): an institution admin creates an
operator, imports a list and downloads its error report, publishes an IVR change; a supervisor reveals a contact
field with a reason; an auditor exports the trail; institution A cannot open B's pages; the operator sees
institutions as totals only. Screenshots go to artifacts/screenshots/."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import select

from callvault.contacts import import_service
from callvault.core.db import Database
from callvault.core.tenant_context import set_tenant
from callvault.security.audit_models import AuditEvent
from callvault.tenancy import service as tenancy
from tests.contacts.db_helpers import actor_for
from tests.contacts.test_import_api import CSV
from tests.fixtures import Account, World, totp_now
from tests.web.conftest import screenshot

SIMPLE_FLOW = "start: hello\nnodes:\n  hello: {type: hangup, prompt: {say: 您好再见。}}\n"


def sign_in(page: Any, live_server: str, account: Account) -> None:
    page.goto(f"{live_server}/login")
    if account.tenant_slug != tenancy.OPERATOR_SLUG:
        page.fill("#institution", account.tenant_slug)
    page.fill("#username", account.username)
    page.fill("#password", account.password)
    if account.totp_secret:
        page.fill("#totp", totp_now(account.totp_secret))
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert page.url == f"{live_server}/console"


def _actions(db: Database, tenant_id: uuid.UUID) -> list[tuple[str, dict[str, Any]]]:
    with db.scoped() as session:
        set_tenant(session, tenant_id)
        return [(e.action, dict(e.details)) for e in session.scalars(select(AuditEvent).order_by(AuditEvent.seq))]


def test_institution_admin_operator_import_ivr_reveal_and_audit_export(
    live_server: str, world: World, db: Database, browser: Any, tmp_path: Path
) -> None:
    inst = world.institution(roles=("admin", "supervisor", "auditor"))
    admin_ctx = browser.new_context(locale="zh-CN", accept_downloads=True)
    page = admin_ctx.new_page()
    sign_in(page, live_server, inst.accounts["admin"])
    assert page.locator(".sidenav a", has_text="审计日志").count() == 0  # the admin has no audit.read
    screenshot(page, "console-home-zh")

    # Creates a role within its own permissions, then an operator holding it.
    page.click(".sidenav >> text=角色")
    page.fill("#role-name", "list-clerk")
    page.check("#perm-contact\\.read")
    page.check("#perm-contact\\.import")
    page.uncheck("#role-mfa")
    with page.expect_navigation():
        page.click("#create-role button[type=submit]")
    assert page.locator("tr[data-role=list-clerk] .perms").inner_text() == "contact.import, contact.read"
    screenshot(page, "roles-zh")
    page.click(".sidenav >> text=坐席与用户")
    page.fill("#new-username", "clerk-zhang")
    page.fill("#new-display-name", "张工")
    page.fill("#new-password", "Correct-horse-42-battery")
    page.check("#create-user #role-list-clerk")
    assert page.locator("#create-user #role-auditor").is_disabled()  # audit readers: separation of duties
    assert not page.locator("#create-user #role-agent").is_disabled()  # staffing agents is the admin's job
    with page.expect_navigation():
        page.click("#create-user button[type=submit]")
    assert page.locator("#user-name").inner_text() == "clerk-zhang"
    assert page.locator("#user-roles").inner_text() == "list-clerk"
    assert page.locator("#notice").inner_text() == "已创建。"
    screenshot(page, "user-zh")

    # Imports a list and downloads the error report.
    page.goto(f"{live_server}/console/lists")
    page.fill("#list-name", "十二月回访")
    page.select_option("#list-purpose", "care")
    with page.expect_navigation():
        page.click("#create-list button[type=submit]")
    source = tmp_path / "名单.csv"
    source.write_bytes(CSV)
    page.set_input_files("#import-file", str(source))
    assert page.locator("#list-purpose").inner_text() == "关怀"
    with page.expect_navigation(url=re.compile(r".*/console/imports/[0-9a-f-]+$")):
        page.click("#import-submit")
    page.wait_for_selector("#import-status[data-status=finished]", timeout=30_000)
    assert page.locator("#import-accepted").inner_text() == "2"
    assert page.locator("#import-rejected").inner_text() == "1"
    screenshot(page, "import-zh")
    with page.expect_download() as download:
        page.click("#error-report")
    report = Path(download.value.path()).read_bytes().decode("utf-8-sig")
    assert "phone.emergency" in report and "13800138000" not in report

    # Publishes an IVR change.
    page.goto(f"{live_server}/console/ivr")
    page.fill("#flow-name", "信用卡服务")
    page.fill("#flow-entry", "+861088880000")
    with page.expect_navigation():
        page.click("#create-flow button[type=submit]")
    page.fill("#draft-document", "start: missing\nnodes:\n  hello: {type: hangup}\n")
    with page.expect_navigation():
        page.click("#save-draft")
    with page.expect_navigation():
        page.click("#publish")
    assert (
        "nodes" in page.locator("#validation-errors").inner_text()
        or "start" in page.locator("#validation-errors").inner_text()
    )
    screenshot(page, "ivr-errors-zh")
    page.fill("#draft-document", SIMPLE_FLOW)
    with page.expect_navigation():
        page.click("#save-draft")
    with page.expect_navigation():
        page.click("#publish")
    assert page.locator("#published-number").inner_text() == "1"
    assert page.locator("#notice").inner_text() == "草稿已发布。"
    with page.expect_navigation():
        page.click("text=English")
    assert page.locator("h2", has_text="Versions").count() == 1
    screenshot(page, "ivr-flow-en")
    admin_ctx.close()

    # A supervisor reveals a phone number with a reason; the audit trail names the field and the reason.
    sup_ctx = browser.new_context(locale="zh-CN")
    page = sup_ctx.new_page()
    sign_in(page, live_server, inst.accounts["supervisor"])
    page.goto(f"{live_server}/console/lists")
    page.click("#lists a")
    assert "138****8000" in page.locator("#contacts").inner_text()
    page.click("#contacts a >> nth=0")
    assert "13800138000" not in page.locator("#contact-phones").inner_text()
    assert page.locator("#watermark").inner_text().startswith(f"user:{inst.accounts['supervisor'].user_id}")
    page.check("#reveal-phones")
    page.select_option("#reveal-reason", "complaint")
    page.fill("#reveal-ticket", "CASE-2026-12")
    with page.expect_navigation():
        page.click("#reveal-submit")
    assert "+8613800138000" in page.locator("#contact-phones").inner_text()
    screenshot(page, "contact-revealed-zh")
    reveals = [d for a, d in _actions(db, inst.id) if a == "pii.reveal"]
    assert reveals and reveals[0]["reason"] == "complaint" and reveals[0]["ticket"] == "CASE-2026-12"
    sup_ctx.close()

    # The auditor views the trail and exports it.
    aud_ctx = browser.new_context(locale="en-US", accept_downloads=True)
    page = aud_ctx.new_page()
    sign_in(page, live_server, inst.accounts["auditor"])
    page.click(".sidenav >> text=Audit trail")
    page.fill("#audit-action", "pii.")
    with page.expect_navigation():
        page.click("#audit-filter button[type=submit]")
    assert page.locator("#audit td.action").all_inner_texts() == ["pii.reveal"]
    screenshot(page, "audit-en")
    with page.expect_download() as download:
        page.click("#audit-export")
    exported = Path(download.value.path()).read_text()
    assert '"pii.reveal"' in exported and "13800138000" not in exported
    assert [a for a, _ in _actions(db, inst.id)][-1] == "audit.export"
    aud_ctx.close()


def test_a_user_of_institution_a_cannot_open_pages_or_objects_of_b(
    live_server: str, world: World, db: Database, login: Any, page: Any
) -> None:
    a, b = world.institution(roles=("admin",)), world.institution(roles=("admin",))
    b_admin = login(b.accounts["admin"])
    b_actor = actor_for(db, b.slug)
    with db.scoped() as session:
        tenancy.bind(session, slug=b.slug)
        b_list_id, _ = import_service.ensure_list(session, actor=b_actor, name="B")
    b_flow = b_admin.post("/api/v1/ivr/flows", json={"name": "b", "entry_point": "+861000000009"}).json()["id"]
    sign_in(page, live_server, a.accounts["admin"])
    urls = [
        f"/console/ivr/{b_flow}",
        f"/console/users/{b.accounts['admin'].user_id}",
        f"/console/lists/{b_list_id}",
        "/console/institutions",
        "/console/audit",
    ]
    for url in urls:
        response = page.goto(f"{live_server}{url}")
        assert response.status in (403, 404), url
        assert page.locator("#error-title").count() == 1
    screenshot(page, "not-found-zh")


def test_operator_admin_sees_institutions_as_totals(live_server: str, world: World, page: Any) -> None:
    inst = world.institution()
    operator = world.operator_user()
    sign_in(page, live_server, operator)
    page.click(".sidenav >> text=机构")
    row = page.locator(f"tr[data-slug={inst.slug}]")
    assert row.locator("[data-count=users]").inner_text() == "1"
    assert page.locator(".sidenav a", has_text="联系人名单").count() == 0
    screenshot(page, "institutions-zh")
    with page.expect_navigation():
        page.click(f"#suspend-{inst.slug}")
    assert page.locator(f"tr[data-slug={inst.slug}] .status").inner_text() == "已暂停"
    response = page.goto(f"{live_server}/console/lists")
    assert response.status == 403


def test_idle_warning_shows_a_minute_before_the_session_ends(live_server: str, world: World, page: Any) -> None:
    inst = world.institution(roles=("agent",))
    page.clock.install()
    sign_in(page, live_server, inst.accounts["agent"])
    assert page.locator("#idle-warning").is_hidden()
    page.clock.run_for("13:58")
    assert page.locator("#idle-warning").is_hidden()
    page.clock.run_for("00:05")
    assert page.locator("#idle-warning").is_visible()
    screenshot(page, "idle-warning-zh")
    page.click("#stay-signed-in")
    page.locator("#idle-warning").wait_for(state="hidden")


def test_screenshots_of_every_section_in_both_languages(live_server: str, world: World, browser: Any) -> None:
    inst = world.institution(roles=("admin", "auditor"))
    for account, sections in (
        (inst.accounts["admin"], ("users", "roles", "api-clients", "lists", "dnc", "ivr")),
        (inst.accounts["auditor"], ("audit",)),
        (world.operator_user(), ("institutions",)),
    ):
        context = browser.new_context(locale="zh-CN")
        page = context.new_page()
        sign_in(page, live_server, account)
        for locale in ("zh_CN", "en"):
            page.goto(f"{live_server}/lang/{locale}?next=/console")
            for section in sections:
                response = page.goto(f"{live_server}/console/{section}")
                assert response.status == 200, section
                assert response.headers["cache-control"] == "no-store"
                assert page.locator("#watermark").count() == 1
                if locale == "zh_CN":
                    assert page.locator("html").get_attribute("lang") == "zh-CN"
                screenshot(page, f"{section}-{locale.split('_')[0]}")
        context.close()
