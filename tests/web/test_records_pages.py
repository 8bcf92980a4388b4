"""Call records and campaigns in a real browser (Debian Chromium): a supervisor types a reason and plays a
recording stream-only (no download link; the playback is audited with the reason); a campaign's creator is
refused by the four-eyes rule and a second administrator approves it. Screenshots go to artifacts/screenshots/."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from callvault.campaigns import service as campaigns
from callvault.campaigns.schemas import CampaignCreate
from callvault.core.db import Database
from callvault.dnc.policy import Purpose
from callvault.security.principal import Principal
from callvault.tenancy import service as tenancy
from tests.campaigns.helpers import make_list
from tests.console.helpers import audit_records, call_with_recording
from tests.fixtures import Account, World
from tests.web.conftest import screenshot
from tests.web.test_console_pages import sign_in


def test_supervisor_plays_a_recording_stream_only_with_a_reason(
    live_server: str, world: World, db: Database, browser: Any, tmp_path: Path
) -> None:
    inst = world.institution(roles=("supervisor",))
    call = call_with_recording(db, inst.slug, tmp_path)
    context = browser.new_context(locale="zh-CN", accept_downloads=True)
    page = context.new_page()
    sign_in(page, live_server, inst.accounts["supervisor"])
    page.click(".sidenav >> text=通话记录")
    with page.expect_navigation():
        page.click(f"tr[data-record='{call.interaction_id}'] a")
    assert page.locator("audio").count() == 0
    screenshot(page, "record-zh")

    reason = "客户投诉复核 QA-2048"
    page.fill(f"#reason-{call.recording.id}", reason)
    with page.expect_navigation():
        page.click(f"#play-{call.recording.id}")
    audio = page.locator("#recording-audio")
    assert audio.count() == 1
    src = audio.get_attribute("src") or ""
    assert src.startswith(f"/api/v1/recordings/{call.recording.id}/stream?reason=")
    assert page.locator("#recording-download").count() == 0 and page.locator("a[download]").count() == 0
    assert audit_records(db, inst.id, "recording.play") == []

    # Muted, so Chromium plays without a user gesture; the element streams from the audited endpoint.
    page.evaluate("document.querySelector('#recording-audio').muted = true")
    page.evaluate("document.querySelector('#recording-audio').play()")
    # Polled from here: the page's CSP (no unsafe-eval) refuses wait_for_function's string predicate.
    deadline = time.monotonic() + 20
    while page.evaluate("document.querySelector('#recording-audio').currentTime") <= 0.2:
        assert time.monotonic() < deadline, "the recording did not play"
        time.sleep(0.1)
    assert page.evaluate("document.querySelector('#recording-audio').duration") > 1
    screenshot(page, "record-playing-zh")
    played = audit_records(db, inst.id, "recording.play")
    assert played and {e.details["reason"] for e in played} == {reason}
    assert {e.object_id for e in played} == {str(call.recording.id)}
    assert audit_records(db, inst.id, "recording.export") == []
    context.close()


def _drafted_by(db: Database, account: Account, list_id: uuid.UUID) -> uuid.UUID:
    """A draft campaign whose creator is `account` (as if made through the API; a second sign-in within the same
    TOTP period would be refused as a replayed code)."""
    with db.scoped() as session:
        inst = tenancy.bind(session, slug=account.tenant_slug)
        creator = Principal(
            kind="user",
            id=account.user_id,
            name=account.username,
            tenant_id=inst.id,
            tenant_slug=inst.slug,
            tenant_kind=inst.kind,
            permissions=frozenset({campaigns.CREATE}),
        )
        data = CampaignCreate(name="到期提醒", purpose=Purpose.COLLECTIONS, list_id=list_id, caller_id="95588")
        return campaigns.create_campaign(session, actor=creator, data=data).id


def test_campaign_four_eyes_refusal_then_approval(live_server: str, world: World, db: Database, browser: Any) -> None:
    inst = world.institution(roles=("admin",))
    second = world.user(inst.slug, role="admin")
    list_id, _ = make_list(db, inst.slug, 2)
    campaign_id = _drafted_by(db, inst.accounts["admin"], list_id)

    creator_ctx = browser.new_context(locale="zh-CN")
    page = creator_ctx.new_page()
    sign_in(page, live_server, inst.accounts["admin"])
    page.click(".sidenav >> text=外呼活动")
    assert page.locator(f"tr[data-campaign='{campaign_id}'] .status").inner_text() == "草稿"
    with page.expect_navigation():
        page.click(f"tr[data-campaign='{campaign_id}'] a")
    with page.expect_navigation():
        page.click("#approve")
    assert "双人复核" in page.locator("#refusal").inner_text()
    assert page.locator("#campaign-status").inner_text() == "草稿"
    screenshot(page, "campaign-four-eyes-zh")
    creator_ctx.close()

    approver_ctx = browser.new_context(locale="zh-CN")
    page = approver_ctx.new_page()
    sign_in(page, live_server, second)
    page.goto(f"{live_server}/console/campaigns/{campaign_id}")
    with page.expect_navigation():
        page.click("#approve")
    assert page.locator("#campaign-status").inner_text() == "已审批"
    assert page.locator("#notice").inner_text() == "活动已审批通过。"
    with page.expect_navigation():
        page.click("#start")
    assert page.locator("#campaign-status").inner_text() == "进行中"
    screenshot(page, "campaign-running-zh")
    approver_ctx.close()
    assert [e.actor for e in audit_records(db, inst.id, "campaign.approve")] == [f"user:{second.user_id}"]
