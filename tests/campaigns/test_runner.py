"""The campaign runner on the sim engine: pacing, blocked reasons, retries, budgets and crash safety."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from sqlalchemy import select

from callvault.campaigns.models import Campaign, CampaignContact, DialAttempt
from callvault.core.db import Database
from callvault.tenancy import service as tenancy
from tests.campaigns.helpers import Shift, make_list, running_campaign, world_institution
from tests.fixtures import World


def _attempts(db: Database, slug: str, campaign_id: object) -> list[DialAttempt]:
    with db.scoped() as session:
        tenancy.bind(session, slug=slug)
        return list(
            session.scalars(select(DialAttempt).where(DialAttempt.campaign_id == campaign_id).order_by(DialAttempt.id))
        )


def _contacts(db: Database, slug: str, campaign_id: object) -> list[CampaignContact]:
    with db.scoped() as session:
        tenancy.bind(session, slug=slug)
        return list(session.scalars(select(CampaignContact).where(CampaignContact.campaign_id == campaign_id)))


def _campaign(db: Database, slug: str, campaign_id: object) -> Campaign:
    with db.scoped() as session:
        tenancy.bind(session, slug=slug)
        found = session.get(Campaign, campaign_id)
        assert found is not None
        return found


def test_progressive_dials_one_per_idle_agent_and_finishes_the_list(world: World, db: Database, tmp_path: Path) -> None:
    slug = world_institution(world)
    list_id, numbers = make_list(db, slug, 40)
    campaign_id = running_campaign(db, slug, list_id, dialing_mode="progressive")
    shift = Shift(db, slug, tmp_path, numbers, agents=4, p_answer=0.6, mean_handling_s=30.0)
    runner = shift.run()
    stats = runner.stats(campaign_id)
    assert stats.over_idle == 0
    assert stats.max_outstanding <= 4
    assert stats.abandoned == 0
    attempts = _attempts(db, slug, campaign_id)
    assert len(attempts) == stats.dials == len(shift.originated)
    assert all(a.state == "ended" for a in attempts)
    assert _campaign(db, slug, campaign_id).status == "finished"
    states = Counter(c.state for c in _contacts(db, slug, campaign_id))
    assert set(states) <= {"done", "closed"}
    assert states["done"] > 0
