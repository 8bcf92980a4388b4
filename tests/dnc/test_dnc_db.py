"""Do-not-call entries and consents in the database feed `call_permitted` (both backends)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select

from callvault.core import clock
from callvault.core.db import Database
from callvault.core.tenant_context import set_tenant
from callvault.dnc import service as dnc
from callvault.dnc.models import ConsentRecord, DncEntry, GlobalDncEntry
from callvault.dnc.policy import DncScope, Purpose, Verdict, call_permitted
from callvault.dnc.schemas import ConsentCreate, DncCreate
from callvault.security.retention import purge_tenant
from callvault.tenancy import service as tenancy
from tests.contacts.db_helpers import actor_for
from tests.fixtures import World

# The global list is shared by every test of the run: this number is used by no other test.
NUMBER = "+8613312340001"


def _verdict(db: Database, tenant_id: uuid.UUID, purpose: Purpose, campaign: uuid.UUID | None = None) -> Verdict:
    with db.scoped() as session:
        set_tenant(session, tenant_id)
        now = clock.now().replace(hour=6)  # 14:00 in Shanghai: outside quiet hours
        return call_permitted(
            NUMBER,
            purpose,
            now,
            dnc=dnc.matches_for(session, e164=NUMBER),
            consents=dnc.consents_for(session, e164=NUMBER),
            campaign_id=campaign,
        )


def test_entries_and_consents_from_the_database(world: World, db: Database) -> None:
    inst = world.institution(roles=())
    other = world.institution(roles=())
    actor = actor_for(db, inst.slug)
    campaign = uuid.uuid4()
    assert _verdict(db, inst.id, Purpose.MARKETING) is Verdict.NO_CONSENT
    with db.scoped() as session:
        tenancy.bind(session, slug=inst.slug)
        consent = dnc.record_consent(
            session,
            actor=actor,
            data=ConsentCreate(
                phone="133 1234 0001",
                granted_at=clock.now() - timedelta(days=1),
                channel="recorded_call",
                evidence_ref="call-1",
            ),
        )
    assert _verdict(db, inst.id, Purpose.MARKETING) is Verdict.ALLOWED
    assert _verdict(db, other.id, Purpose.MARKETING) is Verdict.NO_CONSENT  # consent belongs to one institution
    with db.scoped() as session:
        tenancy.bind(session, slug=inst.slug)
        dnc.add_entry(
            session,
            actor=actor,
            data=DncCreate(phone=NUMBER, scope=DncScope.CAMPAIGN, campaign_id=campaign, all_purposes=True),
        )
    assert _verdict(db, inst.id, Purpose.CARE) is Verdict.ALLOWED
    assert _verdict(db, inst.id, Purpose.CARE, campaign) is Verdict.DO_NOT_CALL
    with db.scoped() as session:
        operator = tenancy.operator_principal(session)
        dnc.add_entry(session, actor=operator, data=DncCreate(phone="0086 13312340001", scope=DncScope.GLOBAL))
    assert _verdict(db, other.id, Purpose.MARKETING) is Verdict.DO_NOT_CALL  # the global list binds everybody
    assert _verdict(db, other.id, Purpose.CARE) is Verdict.ALLOWED
    with db.scoped() as session:
        tenancy.bind(session, slug=inst.slug)
        dnc.withdraw_consent(session, actor=actor, consent_id=consent.id)
    # Stored values: index and ciphertext only.
    with db.scoped() as session:
        set_tenant(session, inst.id)
        for row in [*session.scalars(select(DncEntry)), *session.scalars(select(ConsentRecord))]:
            assert b"13312340001" not in row.phone_ct and len(row.phone_bidx) == 32
        [global_row] = session.scalars(select(GlobalDncEntry).where(GlobalDncEntry.phone_masked == "133****0001"))
        assert len(global_row.phone_bidx) == 32


def test_retention_periods_never_purge_dnc_entries_or_consent_evidence(world: World, db: Database) -> None:
    inst = world.institution(roles=())
    actor = actor_for(db, inst.slug)
    with db.scoped() as session:
        tenancy.bind(session, slug=inst.slug)
        dnc.add_entry(session, actor=actor, data=DncCreate(phone="13312340011"))
        dnc.record_consent(
            session,
            actor=actor,
            data=ConsentCreate(phone="13312340011", granted_at=clock.now(), channel="web_form", evidence_ref="f-1"),
        )
    clock.travel(400 * 86400)
    removed = purge_tenant(db, actor=actor, tenant_id=inst.id, settings={"retention_days": {"phone": 365}}).removed
    assert "dnc_entries.phone" not in removed and "consent_records.phone" not in removed
    with db.scoped() as session:
        set_tenant(session, inst.id)
        assert len(session.scalars(select(DncEntry)).all()) == 1
        assert len(session.scalars(select(ConsentRecord)).all()) == 1
