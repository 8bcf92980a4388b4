"""Budgets (alerts at thresholds, hard stop), line limits and agentless keypress capture, on the sim engine."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from callvault.campaigns import service
from callvault.campaigns.agents import KeypressCapture
from callvault.campaigns.models import Campaign, DialAttempt
from callvault.campaigns.schemas import CampaignUpdate
from callvault.core.db import Database
from callvault.core.errors import Conflict
from callvault.core.outbox_models import OutboxEvent
from callvault.ivr import service as ivr
from callvault.ivr.flow import parse_document
from callvault.ivr.schemas import FlowCreate
from callvault.security.audit_models import AuditEvent
from callvault.telephony.sim import FarEnd
from callvault.tenancy import service as tenancy
from tests.campaigns.helpers import Shift, actor, make_list, running_campaign, world_institution
from tests.fixtures import World


def test_budget_alert_then_hard_stop_pauses_the_campaign(world: World, db: Database, tmp_path: Path) -> None:
    slug = world_institution(world, {"campaigns": {"rating": {"per_minute": "0.10", "increment_seconds": 60}}})
    list_id, numbers = make_list(db, slug, 30)
    campaign_id = running_campaign(db, slug, list_id, budget_money="0.50", alert_thresholds=[0.8])
    shift = Shift(db, slug, tmp_path, numbers, agents=2, mean_handling_s=50.0)
    shift.run(until_s=3600)
    who = actor(db, slug)
    with db.scoped() as session:
        tenancy.bind(session, slug=slug)
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        assert campaign.status == "paused" and campaign.paused_reason == "budget_exhausted"
        assert Decimal("0.50") <= campaign.spent_money < Decimal("0.50") + Decimal("0.30")
        costs = session.scalars(select(DialAttempt.cost).where(DialAttempt.campaign_id == campaign_id)).all()
        assert sum(costs, Decimal(0)) == campaign.spent_money
        actions = list(session.scalars(select(AuditEvent.action).where(AuditEvent.object_id == str(campaign_id))))
        assert actions.count("campaign.budget_alert") == 1
        assert actions.count("campaign.hard_stop") == 1
        names = list(session.scalars(select(OutboxEvent.name).where(OutboxEvent.name.like("%campaign.%"))))
        assert f"t.{slug}.campaign.budget_alert" in names and f"t.{slug}.campaign.hard_stopped" in names
        with pytest.raises(Conflict):
            service.start_campaign(session, actor=who, campaign_id=campaign_id)
        session.rollback()
        # Raising the budget is enlarging: back to draft, approved again by someone else, then it may run.
        raised = service.update_campaign(
            session, actor=who, campaign_id=campaign_id, data=CampaignUpdate(budget_money=Decimal("5"))
        )
        assert raised.status == "draft"
    # No attempt started after the stop: all ended, none left open.
    with db.scoped() as session:
        tenancy.bind(session, slug=slug)
        states = set(session.scalars(select(DialAttempt.state).where(DialAttempt.campaign_id == campaign_id)))
        assert states == {"ended"}


def test_lines_are_capped_by_campaign_and_institution(world: World, db: Database, tmp_path: Path) -> None:
    slug = world_institution(world, {"campaigns": {"max_lines": 3}})
    list_id, numbers = make_list(db, slug, 30)
    campaign_id = running_campaign(db, slug, list_id, dialing_mode="predictive", max_lines=3)
    shift = Shift(db, slug, tmp_path, numbers, agents=10, p_answer=0.2, mean_handling_s=20.0)
    runner = shift.run(until_s=600)
    assert 0 < runner.stats(campaign_id).max_outstanding <= 3


def test_agentless_campaign_captures_keypresses(world: World, db: Database, tmp_path: Path) -> None:
    slug = world_institution(world)
    list_id, numbers = make_list(db, slug, 4)
    who = actor(db, slug)
    with db.scoped() as session:
        tenancy.bind(session, slug=slug)
        flow = ivr.create_flow(session, actor=who, data=FlowCreate(name="verify", entry_point="verify-payment"))
    campaign_id = running_campaign(
        db, slug, list_id, purpose="verification", dialing_mode="agentless", ivr_flow_id=flow.id, max_lines=2
    )
    presses = FarEnd(answer_after=3.0, digits=FarEnd.presses("1", start=1.0))
    far_ends = dict.fromkeys(numbers[:3], presses)
    shift = Shift(
        db,
        slug,
        tmp_path,
        numbers,
        agents=0,
        far_ends=far_ends,
        agentless=lambda engine: KeypressCapture(engine, message="如是您本人操作请按1", wait_s=5.0),
    )
    shift.run()
    with db.scoped() as session:
        tenancy.bind(session, slug=slug)
        rows = session.scalars(select(DialAttempt).where(DialAttempt.campaign_id == campaign_id)).all()
    assert sorted(a.keypresses for a in rows) == ["", "1", "1", "1"]
    assert all(a.outcome == "answered" and not a.abandoned for a in rows)


def test_agentless_campaign_runs_its_published_ivr_flow(world: World, db: Database, tmp_path: Path) -> None:
    slug = world_institution(world)
    list_id, numbers = make_list(db, slug, 2)
    who = actor(db, slug)
    document = parse_document(
        {
            "start": "ask",
            "language": "zh",
            "nodes": {
                "ask": {
                    "type": "menu",
                    "prompt": {"say": "您的账户有一笔支付。如是您本人操作请按1。否则请按2。"},
                    "options": {"1": "thanks", "2": "thanks"},
                    "on_invalid": "thanks",
                },
                "thanks": {"type": "hangup", "prompt": {"say": "谢谢。"}},
            },
        }
    )
    with db.scoped() as session:
        tenancy.bind(session, slug=slug)
        flow = ivr.create_flow(session, actor=who, data=FlowCreate(name="anomaly", entry_point="anomaly-check"))
        ivr.save_draft(session, actor=who, flow_id=flow.id, document=document)
        ivr.publish(session, actor=who, flow_id=flow.id)
    campaign_id = running_campaign(
        db, slug, list_id, purpose="verification", dialing_mode="agentless", ivr_flow_id=flow.id
    )
    far_ends = {
        numbers[0]: FarEnd(answer_after=2.0, digits=FarEnd.presses("2", start=1.5)),
        numbers[1]: FarEnd(answer_after=2.0, digits=FarEnd.presses("1", start=1.5)),
    }
    Shift(db, slug, tmp_path, numbers, agents=0, far_ends=far_ends).run()
    with db.scoped() as session:
        tenancy.bind(session, slug=slug)
        rows = session.scalars(select(DialAttempt).where(DialAttempt.campaign_id == campaign_id)).all()
    assert sorted(a.keypresses for a in rows) == ["1", "2"]
