"""The demo's floor seeding: every object once, however often `callvault demo` runs."""

from __future__ import annotations

from sqlalchemy import func, select

from callvault.acd import service as acd
from callvault.campaigns.models import Campaign
from callvault.contacts.models import ContactRecord
from callvault.core.db import Database
from callvault.demo_floor import BANK, CARE_CONTACTS, INSURER, LOAD_AGENTS, MAIN_FLOW, seed_floor
from callvault.ivr import service as ivr
from callvault.security.audit_models import AuditEvent
from callvault.tenancy import service as tenancy
from callvault.tenancy.schemas import TenantCreate
from tests.fixtures import World, unique_slug


def audit_count(db: Database, slug: str) -> int:
    with db.scoped() as session:
        tenancy.bind(session, slug=slug)
        return int(session.scalar(select(func.count()).select_from(AuditEvent)) or 0)


def test_seeding_twice_creates_each_object_once(db: Database, world: World) -> None:
    bank = world.institution(roles=())
    world.user(bank.slug, role="agent", username="agent")
    first = seed_floor(db, slug=bank.slug, plan=BANK)
    assert first.contacts == CARE_CONTACTS and first.campaign_status == "draft"  # four eyes: a second person approves
    assert {"queue cards", "queue loans", "flow main", "campaign", "seat agent"} <= set(first.created)
    before = audit_count(db, bank.slug)

    second = seed_floor(db, slug=bank.slug, plan=BANK)
    assert second.created == []
    assert audit_count(db, bank.slug) == before  # nothing written at all: no row, no audit record
    with db.scoped() as session:
        tenancy.bind(session, slug=bank.slug)
        assert sorted(q.name for q in acd.list_queues(session)) == sorted(q.name for q in BANK.queues)
        assert {r.code for r in acd.list_pause_reasons(session)} == {"break", "training", "lunch"}
        assert len(acd.list_agents(session)) == LOAD_AGENTS + 1
        assert ivr.published_flow(session, entry_point=MAIN_FLOW) is not None
        assert session.scalar(select(func.count()).select_from(ContactRecord)) == CARE_CONTACTS
        assert session.scalar(select(func.count()).select_from(Campaign)) == 1


def test_without_four_eyes_the_campaign_is_approved(db: Database, world: World) -> None:
    slug = unique_slug()
    with db.scoped() as session:
        actor = tenancy.operator_principal(session)
        settings = {"campaigns": {"four_eyes": False}}
        tenancy.create_tenant(session, actor=actor, data=TenantCreate(slug=slug, name=slug, settings=settings))
    summary = seed_floor(db, slug=slug, plan=INSURER)
    assert summary.campaign_status == "approved"
    assert "seat agent" not in summary.created  # no demo agent user in this institution: only simulated agents
