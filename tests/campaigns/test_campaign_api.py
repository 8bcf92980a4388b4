"""The campaign API: life cycle, four eyes, enlarging needs a new approval, bad input, attempts and blocked counts."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from callvault.core.db import Database
from tests.campaigns.helpers import make_list
from tests.fixtures import World


def _body(list_ref: object, **extra: Any) -> dict[str, Any]:
    return {
        "name": "card activation",
        "purpose": "activation",
        "list_id": str(list_ref),
        "caller_id": "95588",
        "dialing_mode": "predictive",
        "retry_rules": {"busy": {"interval_minutes": 15, "max_attempts": 2}},
        "calling_windows": [{"days": [1, 2, 3, 4, 5], "start": "09:00", "end": "20:00"}],
        "max_lines": 20,
        "budget_money": "1000.00",
        "budget_minutes": 5000,
        **extra,
    }


def test_life_cycle_with_four_eyes(world: World, db: Database, login: Any) -> None:
    inst = world.institution(roles=("admin",))
    second = world.user(inst.slug, role="admin")
    list_id, _ = make_list(db, inst.slug, 2)
    creator, approver = login(inst.accounts["admin"]), login(second)

    r = creator.post("/api/v1/campaigns", json=_body(list_id), headers={"Idempotency-Key": "c-1"})
    assert r.status_code == 201, r.text
    campaign = r.json()
    assert campaign["status"] == "draft" and Decimal(campaign["budget_money"]) == Decimal(1000)
    again = creator.post("/api/v1/campaigns", json=_body(list_id), headers={"Idempotency-Key": "c-1"})
    assert again.status_code == 201 and again.json()["id"] == campaign["id"]
    url = f"/api/v1/campaigns/{campaign['id']}"

    r = creator.post(f"{url}/approve")
    assert r.status_code == 403 and "four eyes" in r.json()["detail"]
    assert creator.post(f"{url}/start").status_code == 409
    r = approver.post(f"{url}/approve")
    assert r.status_code == 200 and r.json()["status"] == "approved"

    # Lowering a limit keeps the approval; raising one (enlarging) needs a new approval.
    r = creator.patch(url, json={"max_lines": 10})
    assert r.status_code == 200 and r.json()["status"] == "approved"
    r = creator.patch(url, json={"max_lines": 30})
    assert r.status_code == 200 and r.json()["status"] == "draft"
    assert approver.post(f"{url}/approve").json()["status"] == "approved"

    assert creator.post(f"{url}/start").json()["status"] == "running"
    assert creator.patch(url, json={"max_lines": 5}).status_code == 409  # pause first
    assert creator.post(f"{url}/pause").json()["status"] == "paused"
    assert creator.post(f"{url}/start").json()["status"] == "running"
    assert creator.post(f"{url}/finish").json()["status"] == "finished"
    assert creator.post(f"{url}/start").status_code == 409

    listed = creator.get("/api/v1/campaigns?status=finished").json()["items"]
    assert [c["id"] for c in listed] == [campaign["id"]]
    assert creator.get(f"{url}/attempts").json() == {"items": [], "next_cursor": None}
    assert creator.get(f"{url}/blocked").json()["total"] == 0


def test_four_eyes_can_be_switched_off(world: World, db: Database, login: Any) -> None:
    inst = world.institution(roles=("admin",))
    op = login(world.operator_user())
    assert (
        op.patch(f"/api/v1/tenants/{inst.id}", json={"settings": {"campaigns": {"four_eyes": False}}}).status_code
        == 200
    )
    list_id, _ = make_list(db, inst.slug, 1)
    s = login(inst.accounts["admin"])
    created = s.post("/api/v1/campaigns", json=_body(list_id)).json()
    assert s.post(f"/api/v1/campaigns/{created['id']}/approve").json()["status"] == "approved"


def test_bad_input_is_refused_with_the_field_named(world: World, db: Database, login: Any) -> None:
    inst = world.institution(roles=("admin",))
    list_id, _ = make_list(db, inst.slug, 1)
    s = login(inst.accounts["admin"])
    cases = [
        ({"purpose": "spam"}, "purpose"),
        ({"dialing_mode": "agentless"}, "ivr_flow_id"),
        ({"calling_windows": [{"start": "20:00", "end": "09:00"}]}, "calling_windows"),
        ({"retry_rules": {"answered": {"interval_minutes": 1, "max_attempts": 1}}}, "retry_rules"),
        ({"destinations": {"allowed_prefixes": ["138"]}}, "destinations"),
        ({"alert_thresholds": [1.5]}, "alert_thresholds"),
        ({"list_id": "01900000-0000-7000-8000-000000000000"}, "list_id"),
        ({"priority_kind": "lead_score"}, "priority_field"),
        ({"budget_money": "-1"}, "budget_money"),
        ({"surprise": True}, "surprise"),
    ]
    for extra, field in cases:
        r = s.post("/api/v1/campaigns", json=_body(list_id, **extra))
        assert r.status_code == 422, (extra, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert any(field in e["field"] for e in r.json()["errors"]), (field, r.json())
    op = login(world.operator_user())
    r = op.patch(f"/api/v1/tenants/{inst.id}", json={"settings": {"campaigns": {"max_lines": 0}}})
    assert r.status_code == 422 and "campaigns" in r.text


def test_institution_line_limit_bounds_the_campaign(world: World, db: Database, login: Any) -> None:
    inst = world.institution(roles=("admin",))
    op = login(world.operator_user())
    op.patch(f"/api/v1/tenants/{inst.id}", json={"settings": {"campaigns": {"max_lines": 8}}})
    list_id, _ = make_list(db, inst.slug, 1)
    s = login(inst.accounts["admin"])
    r = s.post("/api/v1/campaigns", json=_body(list_id, max_lines=9))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "max_lines"


def test_agent_role_cannot_see_or_run_campaigns(world: World, db: Database, login: Any) -> None:
    inst = world.institution(roles=("admin", "agent", "supervisor"))
    list_id, _ = make_list(db, inst.slug, 1)
    admin = login(inst.accounts["admin"])
    created = admin.post("/api/v1/campaigns", json=_body(list_id)).json()
    agent = login(inst.accounts["agent"])
    assert agent.get("/api/v1/campaigns").status_code == 403
    assert agent.post(f"/api/v1/campaigns/{created['id']}/start").status_code == 403
    supervisor = login(inst.accounts["supervisor"])
    assert supervisor.get(f"/api/v1/campaigns/{created['id']}").status_code == 200
    assert supervisor.post("/api/v1/campaigns", json=_body(list_id, name="x")).status_code == 403
