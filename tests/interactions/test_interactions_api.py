"""Call-record API: masked numbers, search by number, wrap-up with encrypted notes, derived times."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from callvault.core import clock
from callvault.core.db import Database
from callvault.core.errors import Conflict
from callvault.core.outbox_models import OutboxEvent
from callvault.core.tenant_context import set_tenant
from callvault.interactions import service
from callvault.interactions.models import Interaction
from callvault.interactions.schemas import InteractionClose, InteractionOpen, PartyKind
from callvault.interactions.service import LegEvent, LegEventKind
from callvault.security.audit_models import AuditEvent
from callvault.security.masking import DataClass, mask
from callvault.tenancy import service as tenancy
from tests.fixtures import World
from tests.interactions.helpers import CUSTOMER, DID, actor_of, ended_call


def test_list_and_detail_show_numbers_masked_and_find_calls_by_number(world: World, db: Database, login: Any) -> None:
    inst = world.institution(roles=("supervisor", "agent"))
    interaction_id, _ = ended_call(db, inst.slug)
    s = login(inst.accounts["supervisor"])

    page = s.get("/api/v1/interactions").json()
    assert [i["id"] for i in page["items"]] == [str(interaction_id)]
    assert page["items"][0]["status"] == "ended" and page["items"][0]["talk_ms"] == 0

    detail = s.get(f"/api/v1/interactions/{interaction_id}")
    assert detail.status_code == 200, detail.text
    (leg,) = detail.json()["legs"]
    assert leg["remote_number_masked"] == "+86138****8000"
    assert leg["local_number_masked"] == mask(DID, DataClass.PHONE)  # the platform's masking rule
    assert (leg["destination_type"], leg["destination_prefix"], leg["trunk"]) == ("mobile", "+86138", "carrier-a")
    assert leg["billable_ms"] == 30_000 and leg["hangup_cause"] == "normal"
    assert CUSTOMER not in detail.text and CUSTOMER[3:] not in detail.text

    found = s.get("/api/v1/interactions", params={"phone": "138 1234 8000"}).json()["items"]
    assert [i["id"] for i in found] == [str(interaction_id)]
    assert s.get("/api/v1/interactions", params={"phone": "13900000000"}).json()["items"] == []
    assert s.get("/api/v1/interactions", params={"phone": "agent-7"}).status_code == 422

    # Agents take calls but do not browse call records.
    assert login(inst.accounts["agent"]).get("/api/v1/interactions").status_code == 403


def test_wrap_up_records_disposition_and_encrypted_notes_once(world: World, db: Database, login: Any) -> None:
    inst = world.institution(roles=("agent", "supervisor"))
    interaction_id, _ = ended_call(db, inst.slug)
    agent = login(inst.accounts["agent"])
    url = f"/api/v1/interactions/{interaction_id}/close"
    notes = f"customer {CUSTOMER} asked about card 6222021234567890123"

    r = agent.post(url, json={"disposition": "card_blocked", "notes": notes})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "closed" and r.json()["has_notes"] is True
    assert agent.post(url, json={"disposition": "again"}).status_code == 409
    assert agent.post(url, json={"disposition": ""}).status_code == 422

    with db.scoped() as session:
        set_tenant(session, inst.id)
        row = session.get(Interaction, interaction_id)
        assert row is not None and row.notes_ct is not None and CUSTOMER.encode() not in row.notes_ct
        (closed,) = session.scalars(select(AuditEvent).where(AuditEvent.action == "interaction.close")).all()
        assert closed.details["disposition"] == "card_blocked" and "notes" in closed.details
        payloads = repr([e.payload for e in session.scalars(select(OutboxEvent))])
    assert CUSTOMER not in payloads and "6222021234567890123" not in payloads
    detail = login(inst.accounts["supervisor"]).get(f"/api/v1/interactions/{interaction_id}").text
    assert "card 6222" not in detail


def test_times_are_derived_from_the_legs(world: World, db: Database) -> None:
    inst = world.institution(roles=())
    actor = actor_of(db, inst.slug)
    t0 = clock.now()

    def at(seconds: float) -> Any:
        return t0 + timedelta(seconds=seconds)

    with db.scoped() as session:
        tenancy.bind(session, slug=inst.slug)
        iid = service.open_interaction(session, actor=actor, data=InteractionOpen(direction="inbound", offered_at=t0))

        def leg(kind: LegEventKind, call: str, s: float, **kw: Any) -> None:
            service.record_leg_event(session, actor=actor, interaction_id=iid, event=LegEvent(kind, call, at(s), **kw))

        leg(LegEventKind.STARTED, "c", 0, party=PartyKind.CUSTOMER, direction="inbound", remote=CUSTOMER)
        leg(LegEventKind.ANSWERED, "c", 0.5)
        service.record_routing(session, actor=actor, interaction_id=iid, ivr_path=["welcome", "menu"], queued_at=at(20))
        # First agent rings 10 s and does not answer; the second rings 3 s.
        leg(LegEventKind.STARTED, "a1", 30, party=PartyKind.AGENT, direction="outbound", remote="sip:agent-1@pbx")
        service.close_leg(session, actor=actor, interaction_id=iid, call_id="a1", at=at(40), cause="no_answer")
        leg(LegEventKind.STARTED, "a2", 41, party=PartyKind.AGENT, direction="outbound", remote="sip:agent-2@pbx")
        leg(LegEventKind.ANSWERED, "a2", 44)
        leg(LegEventKind.HELD, "c", 60)
        leg(LegEventKind.HELD, "c", 61)  # a repeated hold changes nothing
        leg(LegEventKind.UNHELD, "c", 70)
        leg(LegEventKind.HELD, "c", 100)
        assert not service.close_leg(session, actor=actor, interaction_id=iid, call_id="c", at=at(104), cause="normal")
        assert service.close_leg(session, actor=actor, interaction_id=iid, call_id="a2", at=at(105), cause="normal")
        # Duplicates after the end are ignored.
        assert not service.close_leg(session, actor=actor, interaction_id=iid, call_id="a2", at=at(106), cause="x")
        leg(LegEventKind.ANSWERED, "c", 107)
        row = session.get(Interaction, iid)
        assert row is not None
        assert row.ivr_path == ["welcome", "menu"]
        # Queued at 20 s; the agent who answered was rung at 41 s (the unanswered ring counts as waiting).
        assert row.queue_wait_ms == 21_000
        assert row.ring_ms == 3_000
        assert row.hold_ms == 14_000  # 60-70 and 100-104 (hung up while held)
        assert row.talk_ms == 61_000 - 14_000  # a2 answered 44 -> 105
        assert row.ended_at == at(105) and row.status == "ended"
        assert row.hangup_cause == "normal"
        # An interaction whose call is still up cannot be wrapped up.
        open_id = service.open_interaction(session, actor=actor, data=InteractionOpen(direction="outbound"))
        with pytest.raises(Conflict):
            service.close_interaction(
                session, actor=actor, interaction_id=open_id, data=InteractionClose(disposition="x")
            )


def test_retention_removes_leg_numbers_and_keeps_the_record(world: World, db: Database) -> None:
    from callvault.interactions.models import InteractionLeg
    from callvault.security.retention import purge_tenant

    inst = world.institution(roles=())
    interaction_id, _ = ended_call(db, inst.slug)
    clock.travel(31 * 86400)
    removed = purge_tenant(
        db, actor=actor_of(db, inst.slug), tenant_id=inst.id, settings={"retention_days": {"phone": 30}}
    )
    assert removed.removed["interaction_legs.remote_number"] == 1
    assert removed.removed["interaction_legs.local_number"] == 1
    with db.scoped() as session:
        set_tenant(session, inst.id)
        (leg,) = session.scalars(select(InteractionLeg).where(InteractionLeg.interaction_id == interaction_id)).all()
        assert leg.remote_number_ct is None and leg.remote_number_bidx is None and leg.local_number_ct is None
        assert (leg.destination_type, leg.billable_ms) == ("mobile", 30_000)  # still billable and countable
