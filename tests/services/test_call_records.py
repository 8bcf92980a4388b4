"""The calls the services place are call records and are billed: a trigger order run by the service host's worker
and a campaign call dialled by its runner (sim engine) each end as one interaction with one closed customer leg
(number sealed), pointed to by the request / attempt; rating bills that leg once, on the institution's invoice.
Replayed events (a restarted recorder, a rerun pass) write nothing twice."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select, text

from callvault.billing import invoicing
from callvault.billing.from_interactions import rate_from_interactions
from callvault.billing.models import BillingRatedLeg
from callvault.campaigns.models import DialAttempt
from callvault.config import Settings
from callvault.core import clock
from callvault.core.db import Database
from callvault.core.outbox_models import OutboxEvent
from callvault.interactions.models import Interaction, InteractionLeg
from callvault.interactions.recorder import CallRecorder, LegClaim
from callvault.interactions.schemas import PartyKind
from callvault.security.audit_models import AuditEvent
from callvault.services.loops import Services, build_services
from callvault.telephony.events import CallAnswered, CallHangup, CallOriginated, Direction, HangupCause
from callvault.tenancy import service as tenancy
from callvault.trigger.models import CallRequest
from tests.billing.helpers import tariff_for
from tests.campaigns.helpers import number
from tests.fixtures import World
from tests.services.helpers import agentless_campaign, service_settings, wait_for
from tests.trigger.helpers import E164, PHONE, bank, order, signed_post


@dataclass
class Recorded:
    interaction: Interaction
    leg: InteractionLeg
    raw_legs: str  # every column of the institution's leg rows, as the database returns them


def _recorded(db: Database, slug: str) -> list[Recorded]:
    with db.scoped() as session:
        tenancy.bind(session, slug=slug)
        rows = []
        for interaction in session.scalars(select(Interaction)):
            legs = session.scalars(select(InteractionLeg).where(InteractionLeg.interaction_id == interaction.id))
            raw = repr(session.execute(text("SELECT * FROM interaction_legs")).all())
            rows.extend(Recorded(interaction, leg, raw) for leg in legs)
        return rows


def _ended(db: Database, slug: str) -> bool:
    return any(r.leg.ended_at is not None for r in _recorded(db, slug))


def _run(served: Settings, db: Database, until: Any) -> Services:
    services = build_services(served, db)
    services.host.start()
    try:
        wait_for(until, timeout=120, what="the call's record")
    finally:
        services.host.stop()
    return services


def _assert_sealed(db: Database, slug: str, recorded: Recorded, e164: str) -> None:
    leg = recorded.leg
    assert leg.remote_number_ct is not None and leg.remote_number_bidx is not None
    national = e164.removeprefix("+86")
    assert national not in recorded.raw_legs  # neither plaintext nor digits in any column of the table
    with db.scoped() as session:
        tenancy.bind(session, slug=slug)
        audit = repr([(a.action, a.details) for a in session.scalars(select(AuditEvent))])
        events = repr([e.payload for e in session.scalars(select(OutboxEvent))])
    assert national not in audit and national not in events


def _rate_once(db: Database, slug: str, institution_id: uuid.UUID) -> BillingRatedLeg:
    # Sim calls end in virtual time after the pass started: read up to a little past now.
    window = {"since": clock.now() - timedelta(days=1), "until": clock.now() + timedelta(hours=1), "slugs": [slug]}
    first = rate_from_interactions(db, **window)  # type: ignore[arg-type]
    assert (first.run.rated, first.run.still_open, first.run.unrated, first.bad) == (1, 0, {}, [])
    again = rate_from_interactions(db, **window)  # type: ignore[arg-type]
    assert (again.run.rated, again.run.already_rated) == (0, 1)
    with db.scoped() as session:
        tenancy.operator_principal(session)  # the ledger is the operator's
        (rated,) = session.scalars(select(BillingRatedLeg).where(BillingRatedLeg.institution_id == institution_id))
    return rated


def _invoiced(db: Database, institution_id: uuid.UUID, rated: BillingRatedLeg) -> None:
    """Next month, the institution's invoice carries the leg on its outbound +86138 usage line."""
    y, m = (int(x) for x in rated.billing_month.split("-"))
    clock.travel((clock.now().replace(day=1) + timedelta(days=32) - clock.now()).total_seconds() + 86_400 * 2)
    with db.scoped() as session:
        operator = tenancy.operator_principal(session)
        invoice, issued = invoicing.issue_invoice(
            session, actor=operator, institution_id=institution_id, month=f"{y:04d}-{m:02d}"
        )
    assert issued and invoice.legs == 1
    (usage,) = [line for line in invoice.lines if line.kind == "voice"]
    assert "+86138 (1 calls)" in usage.description and usage.amount == rated.price > 0


def test_an_ordered_call_placed_by_the_services_is_recorded_and_billed_once(
    world: World, login: Any, client: TestClient, settings: Settings, db: Database
) -> None:
    b = bank(world, login)
    tariff_for(db, b.tenant_id)
    accepted = signed_post(client, b.creds, order("https://hooks.bank.example/cv"))
    assert accepted.status_code == 202, accepted.text
    request_id = uuid.UUID(accepted.json()["id"])
    served = service_settings(
        settings, slug=b.slug, service_webhooks=False, service_campaigns=False, service_rating=False
    )

    services = _run(served, db, lambda: _ended(db, b.slug))
    assert services.trigger is not None and list(services.trigger.placed) == [request_id]

    (recorded,) = _recorded(db, b.slug)
    interaction, leg = recorded.interaction, recorded.leg
    assert (interaction.direction, interaction.source, interaction.source_id, interaction.purpose) == (
        "outbound",
        "trigger",
        request_id,
        "verification",
    )
    assert interaction.tenant_id == b.tenant_id and interaction.status == "ended"
    assert (leg.party, leg.direction, leg.state, leg.hangup_cause) == ("customer", "outbound", "ended", "normal")
    assert leg.answered_at is not None and leg.billable_ms > 0
    assert (leg.destination_type, leg.destination_prefix, leg.trunk) == ("mobile", "+86138", "pstn")
    _assert_sealed(db, b.slug, recorded, E164)
    assert PHONE not in recorded.raw_legs
    with db.scoped() as session:
        tenancy.bind(session, slug=b.slug)
        request = session.get(CallRequest, request_id)
        assert request is not None and request.result == "verified"
        assert request.interaction_id == interaction.id  # stored with the result, in its transaction

    # A rerun of the services finds nothing to dial and writes no second record.
    _run(served, db, lambda: True)
    assert len(_recorded(db, b.slug)) == 1

    rated = _rate_once(db, b.slug, b.tenant_id)
    assert (rated.leg_id, rated.direction, rated.rate_key, rated.trunk) == (leg.id, "outbound", "+86138", "pstn")
    assert rated.unit_price == Decimal("0.12") and rated.campaign_id is None
    assert rated.talk_seconds == -(-leg.billable_ms // 1000)
    _invoiced(db, b.tenant_id, rated)


def test_replayed_events_of_a_recorded_call_write_nothing_twice(
    world: World, login: Any, client: TestClient, settings: Settings, db: Database
) -> None:
    b = bank(world, login)
    accepted = signed_post(client, b.creds, order("https://hooks.bank.example/cv"))
    request_id = uuid.UUID(accepted.json()["id"])
    served = service_settings(
        settings, slug=b.slug, service_webhooks=False, service_campaigns=False, service_rating=False
    )
    _run(served, db, lambda: _ended(db, b.slug))
    (before,) = _recorded(db, b.slug)
    with db.scoped() as session:
        tenancy.bind(session, slug=b.slug)
        events_before = len(session.scalars(select(OutboxEvent.id)).all())

    # A recorder restarted after a crash sees the call's events again, under a claim choosing a new record id:
    # the record of the request is found by its source, the leg by its call id, the hangup is already in.
    at = 0.0
    call_id = before.leg.call_id
    for new_id in (before.interaction.id, uuid.uuid4()):
        recorder = CallRecorder(db)
        recorder.claim(
            call_id,
            LegClaim(
                b.tenant_id,
                PartyKind.CUSTOMER,
                trunk="pstn",
                new_interaction_id=new_id,
                source="trigger",
                source_id=request_id,
                purpose="verification",
            ),
        )
        for event in (
            CallOriginated(call_id=call_id, at=at, from_uri="sip:callvault@trigger", to_uri=f"sip:{E164}@pstn"),
            CallAnswered(call_id=call_id, at=at + 2, direction=Direction.OUTBOUND),
            CallHangup(call_id=call_id, at=at + 9, cause=HangupCause.NORMAL),
        ):
            recorder.apply(event)
        assert recorder.failed == 0

    (after,) = _recorded(db, b.slug)
    assert after.interaction.id == before.interaction.id and after.leg.id == before.leg.id
    assert (after.leg.answered_at, after.leg.ended_at) == (before.leg.answered_at, before.leg.ended_at)
    with db.scoped() as session:
        tenancy.bind(session, slug=b.slug)
        assert len(session.scalars(select(OutboxEvent.id)).all()) == events_before  # nothing announced twice


def test_a_campaign_call_dialled_by_the_services_is_recorded_and_billed_once(
    world: World, db: Database, settings: Settings
) -> None:
    setup = agentless_campaign(world, db, contacts=1, max_lines=1)
    inst, slug, numbers, campaign_id = setup.institution, setup.slug, setup.numbers, setup.campaign_id
    tariff_for(db, inst.id)
    served = setup.settings(settings)
    _run(served, db, lambda: _ended(db, slug))

    (recorded,) = _recorded(db, slug)
    interaction, leg = recorded.interaction, recorded.leg
    with db.scoped() as session:
        tenancy.bind(session, slug=slug)
        (attempt,) = session.scalars(select(DialAttempt).where(DialAttempt.campaign_id == campaign_id)).all()
        assert attempt.interaction_id == interaction.id and attempt.outcome == "answered"
    assert (interaction.direction, interaction.source, interaction.source_id, interaction.purpose) == (
        "outbound",
        "campaign",
        attempt.id,
        "verification",
    )
    assert interaction.campaign_id == campaign_id == leg.campaign_id and interaction.flow_id == setup.flow_id
    assert (leg.party, leg.state, leg.destination_prefix, leg.trunk) == ("customer", "ended", "+86138", "pstn")
    assert leg.answered_at is not None and leg.billable_ms > 0
    _assert_sealed(db, slug, recorded, numbers[0])
    assert numbers[0] == number(0)

    rated = _rate_once(db, slug, inst.id)
    assert (rated.leg_id, rated.campaign_id, rated.rate_key) == (leg.id, campaign_id, "+86138")
    _invoiced(db, inst.id, rated)
