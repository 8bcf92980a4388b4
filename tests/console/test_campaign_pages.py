"""Campaign pages: list with status and counters, detail, approve / start / pause as CSRF forms, the four-eyes
refusal as a message on the page, permissions as in the API, and no way into another institution's campaign."""

from __future__ import annotations

import re
from typing import Any

from callvault.core.db import Database
from tests.campaigns.helpers import make_list
from tests.console.helpers import audit_records, form
from tests.fixtures import World


def _draft(s: Any, list_id: object, name: str = "信用卡激活") -> str:
    body = {"name": name, "purpose": "activation", "list_id": str(list_id), "caller_id": "95588", "max_lines": 5}
    r = s.post("/api/v1/campaigns", json=body)
    assert r.status_code == 201, r.text
    campaign_id: str = r.json()["id"]
    return campaign_id


def test_list_detail_and_life_cycle_with_four_eyes(world: World, db: Database, login: Any) -> None:
    inst = world.institution(roles=("admin", "supervisor", "agent"))
    second_admin = world.user(inst.slug, role="admin")
    list_id, _ = make_list(db, inst.slug, 3)
    creator, approver = login(inst.accounts["admin"]), login(second_admin)
    supervisor, agent = login(inst.accounts["supervisor"]), login(inst.accounts["agent"])
    cid = _draft(creator, list_id)
    url = f"/console/campaigns/{cid}"

    listing = creator.get("/console/campaigns")
    assert listing.status_code == 200 and listing.headers["cache-control"] == "no-store"
    row = re.search(rf'<tr data-campaign="{cid}">(.*?)</tr>', listing.text, re.S)
    assert row and "信用卡激活" in row.group(1) and '<td class="status">草稿</td>' in row.group(1)
    assert 'href="/console/campaigns"' in listing.text  # in the navigation
    assert 'href="/console/campaigns"' not in agent.get("/console").text
    assert agent.get("/console/campaigns").status_code == 403
    assert agent.get(url).status_code == 403
    assert creator.get("/console/campaigns?status=running").text.count("data-campaign=") == 0

    # The creator sees the approve button, but the four-eyes rule refuses: a clear message, nothing changes.
    page = creator.get(url)
    assert page.status_code == 200 and 'id="approve"' in page.text and 'id="count-attempts">0<' in page.text
    r = form(creator, f"{url}/approve")
    assert r.status_code == 403 and 'id="refusal"' in r.text and "双人复核" in r.text
    assert 'id="campaign-status">草稿<' in r.text
    # Without the token the form is refused; the supervisor may not approve at all (campaign.approve).
    assert creator.client.post(f"{url}/approve", follow_redirects=False).status_code == 403
    assert 'id="approve"' not in supervisor.get(url).text
    assert form(supervisor, f"{url}/approve").status_code == 403
    assert audit_records(db, inst.id, "campaign.approve") == []

    r = form(approver, f"{url}/approve")
    assert r.status_code == 303 and r.headers["location"] == f"{url}?notice=approved"
    page = approver.get(r.headers["location"])
    assert 'id="campaign-status">已审批<' in page.text and "活动已审批通过。" in page.text
    assert f"user:{second_admin.user_id}" in page.text  # approved by
    assert [e.actor for e in audit_records(db, inst.id, "campaign.approve")] == [f"user:{second_admin.user_id}"]

    # The supervisor (campaign.start) starts and pauses it; a step the state does not allow is a message.
    assert form(supervisor, f"{url}/start").status_code == 303
    assert 'id="campaign-status">进行中<' in supervisor.get(url).text
    assert form(supervisor, f"{url}/pause").status_code == 303
    page = supervisor.get(url)
    assert 'id="campaign-status">已暂停' in page.text and 'id="start"' in page.text
    r = form(supervisor, f"{url}/pause")
    assert r.status_code == 409 and "活动当前状态下不能执行此操作。" in r.text
    assert form(agent, f"{url}/start").status_code == 403
    assert len(audit_records(db, inst.id, "campaign.start")) == 1
    assert len(audit_records(db, inst.id, "campaign.pause")) == 1


def test_english_page_and_unknown_ids(world: World, db: Database, login: Any) -> None:
    inst = world.institution(roles=("admin",))
    list_id, _ = make_list(db, inst.slug, 1)
    admin = login(inst.accounts["admin"])
    cid = _draft(admin, list_id, name="card activation")
    admin.client.cookies.set("callvault_lang", "en")
    page = admin.get(f"/console/campaigns/{cid}")
    assert page.status_code == 200 and ">Approve<" in page.text and 'id="campaign-status">draft<' in page.text
    assert admin.get("/console/campaigns/not-an-id").status_code == 404
    assert admin.get("/console/campaigns/00000000-0000-7000-8000-000000000000").status_code == 404
    assert admin.get("/console/campaigns?status=nonsense").status_code == 200


def test_institution_a_cannot_open_or_change_b_campaigns(world: World, db: Database, login: Any) -> None:
    a, b = world.institution(roles=("admin",)), world.institution(roles=("admin",))
    b_list, _ = make_list(db, b.slug, 1)
    b_campaign = _draft(login(b.accounts["admin"]), b_list, name="B-campaign")
    a_admin = login(a.accounts["admin"])
    assert a_admin.get(f"/console/campaigns/{b_campaign}").status_code == 404
    for step in ("approve", "start", "pause"):
        assert form(a_admin, f"/console/campaigns/{b_campaign}/{step}").status_code == 404
    assert "B-campaign" not in a_admin.get("/console/campaigns").text
    assert audit_records(db, b.id, "campaign.approve") == []
