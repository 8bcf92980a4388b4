"""The campaign runner on the sim engine: pacing, blocked reasons, retries, budgets and crash safety."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import select

from callvault.campaigns import service
from callvault.campaigns.models import Campaign, CampaignContact, DialAttempt
from callvault.campaigns.runner import RunnerConfig
from callvault.core.db import Database
from callvault.dialer.models import AgentStates
from callvault.dnc import service as dnc
from callvault.dnc.schemas import DncCreate
from callvault.telephony.events import CallId
from callvault.telephony.sim import FarEnd
from callvault.tenancy import service as tenancy
from tests.campaigns.helpers import START, Shift, actor, make_list, running_campaign, world_institution
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


def test_predictive_stays_under_the_abandon_cap(world: World, db: Database, tmp_path: Path) -> None:
    slug = world_institution(world)
    list_id, numbers = make_list(db, slug, 700)
    campaign_id = running_campaign(
        db, slug, list_id, dialing_mode="predictive", max_lines=60, retry_rules={"no_answer": RETRY_ONCE}
    )
    shift = Shift(
        db,
        slug,
        tmp_path,
        numbers,
        agents=8,
        p_answer=0.3,
        mean_handling_s=40.0,
        answer_after=6.0,
        config=RunnerConfig(tick_s=2.0),
    )
    runner = shift.run(until_s=1800)
    stats = runner.stats(campaign_id)
    assert stats.live >= 150
    assert stats.abandoned <= 0.03 * stats.live
    # It dials ahead of idle agents: more than one line per agent at times (progressive never does).
    assert stats.over_idle > 0
    assert stats.max_outstanding > 10
    attempts = _attempts(db, slug, campaign_id)
    assert len(attempts) == len(shift.originated)
    assert sum(a.abandoned for a in attempts) == stats.abandoned


RETRY_ONCE = {"interval_minutes": 1, "max_attempts": 1}


def test_retries_happen_after_their_interval(world: World, db: Database, tmp_path: Path) -> None:
    slug = world_institution(world)
    list_id, numbers = make_list(db, slug, 3)
    rules = {
        "busy": {"interval_minutes": 10, "max_attempts": 3},
        "no_answer": {"interval_minutes": 30, "max_attempts": 2},
    }
    campaign_id = running_campaign(db, slug, list_id, retry_rules=rules)
    far_ends = {numbers[0]: FarEnd(reject_code=486, answer_after=2.0), numbers[1]: FarEnd(answer_probability=0.0)}
    shift = Shift(db, slug, tmp_path, numbers, agents=2, far_ends=far_ends, mean_handling_s=20.0)
    shift.run()
    attempts = _attempts(db, slug, campaign_id)
    by_contact: dict[object, list[DialAttempt]] = {}
    for a in attempts:
        by_contact.setdefault(a.contact_id, []).append(a)
    outcomes = sorted(tuple(a.outcome for a in rows) for rows in by_contact.values())
    assert outcomes == [("answered",), ("busy", "busy", "busy"), ("no_answer", "no_answer")]
    for rows in by_contact.values():
        gaps = [(b.created_at - a.ended_at).total_seconds() for a, b in itertools.pairwise(rows)]
        wanted = {"busy": 600, "no_answer": 1800}.get(rows[0].outcome, 0)
        assert all(wanted <= g < wanted + 5 for g in gaps), gaps
    assert Counter(c.closed_reason for c in _contacts(db, slug, campaign_id) if c.state == "closed") == Counter(
        {"exhausted": 2}
    )


def test_blocked_attempts_are_counted_with_their_reason(world: World, db: Database, tmp_path: Path) -> None:
    slug = world_institution(world, {"campaigns": {"destinations": {"allowed_types": ["mobile"]}}})
    list_id, numbers = make_list(db, slug, 6)
    who = actor(db, slug)
    with db.scoped() as session:
        tenancy.bind(session, slug=slug)
        dnc.add_entry(session, actor=who, data=DncCreate(phone=numbers[0], all_purposes=True))
    # A window that is closed now (10:00 local) and opens at 14:00: those contacts wait, counted once each.
    campaign_id = running_campaign(
        db,
        slug,
        list_id,
        calling_windows=[{"start": "14:00", "end": "18:00"}],
        destinations={"allowed_prefixes": numbers[:3]},
    )
    shift = Shift(db, slug, tmp_path, numbers, agents=2, mean_handling_s=10.0)
    shift.run(until_s=5 * 3600)
    with db.scoped() as session:
        tenancy.bind(session, slug=slug)
        counts = service.blocked_counts(session, actor=who, campaign_id=campaign_id)
    # numbers 3..5 fall outside the allowed prefixes; 0 is on the do-not-call list; the rest wait for the window.
    assert counts.by_reason == {"destination_prefix": 3, "outside_calling_window": 3, "do_not_call": 1}
    answered = [a for a in _attempts(db, slug, campaign_id) if a.outcome == "answered"]
    assert len(answered) == 2
    assert all(a.created_at.hour >= 6 for a in answered)  # 14:00 in Shanghai is 06:00 UTC


def test_a_killed_runner_neither_loses_nor_repeats_a_dial(world: World, db: Database, tmp_path: Path) -> None:
    slug = world_institution(world)
    list_id, numbers = make_list(db, slug, 60)
    campaign_id = running_campaign(
        db, slug, list_id, dialing_mode="predictive", max_lines=20, retry_rules={"no_answer": RETRY_ONCE}
    )
    shift = Shift(db, slug, tmp_path, numbers, agents=5, p_answer=0.5, mean_handling_s=30.0)
    shift.run(crash_after_s=200)
    left_open = [a for a in _attempts(db, slug, campaign_id) if a.state in ("planned", "dialing")]
    assert left_open, "the crash should leave calls in progress"
    dials_before = len(shift.originated)
    second = shift.run()
    assert second.reconcile() == 0  # the second runner reconciled at its start; nothing is open now
    attempts = _attempts(db, slug, campaign_id)
    # Every dial the engines placed has exactly one attempt row, and every row at most one dial.
    assert len(shift.originated) == len(attempts) > dials_before
    assert {a.id for a in attempts if a.state == "interrupted"} == {a.id for a in left_open}
    per_contact = Counter(a.contact_id for a in attempts)
    per_number = Counter(shift.originated)
    assert sorted(per_contact.values()) == sorted(per_number.values())
    assert all(a.state in ("ended", "interrupted") for a in attempts)
    assert _campaign(db, slug, campaign_id).status == "finished"


class _AgentWhoLeaves:
    """Shows one ready agent to the pacing policy, but is gone when the call is answered (logged out mid-dial)."""

    def states(self, now_s: float) -> AgentStates:
        return AgentStates(idle_elapsed_s=np.array([10.0]))

    def take(self, now_s: float) -> str | None:
        return None

    async def converse(self, agent: str, call_id: CallId) -> None:
        raise AssertionError("never connected")


def test_an_abandoned_number_is_not_redialled_for_72_hours(world: World, db: Database, tmp_path: Path) -> None:
    slug = world_institution(world)
    first_list, numbers = make_list(db, slug, 1)
    first = running_campaign(db, slug, first_list)
    shift = Shift(db, slug, tmp_path, numbers, pool=lambda _engine: _AgentWhoLeaves())
    shift.run(until_s=600)
    (attempt,) = _attempts(db, slug, first)
    assert attempt.outcome == "abandoned" and attempt.abandoned and attempt.ended_at is not None
    (progress,) = _contacts(db, slug, first)
    assert progress.state == "pending" and progress.next_due_at - attempt.ended_at == timedelta(hours=72)
    # Another campaign of the institution with the same number is held back too, and says why.
    second_list, _ = make_list(db, slug, 1, name="second")
    second = running_campaign(db, slug, second_list)
    Shift(db, slug, tmp_path, numbers, elapsed=shift.elapsed).run(until_s=600)
    assert _attempts(db, slug, second) == []
    who = actor(db, slug)
    with db.scoped() as session:
        tenancy.bind(session, slug=slug)
        assert service.blocked_counts(session, actor=who, campaign_id=second).by_reason == {"abandoned_recently": 1}


def test_no_dial_after_the_end_date(world: World, db: Database, tmp_path: Path) -> None:
    slug = world_institution(world)
    list_id, numbers = make_list(db, slug, 30)
    ends = START + timedelta(minutes=5)
    campaign_id = running_campaign(db, slug, list_id, ends_at=ends.isoformat())
    Shift(db, slug, tmp_path, numbers, agents=1, mean_handling_s=120.0).run()
    attempts = _attempts(db, slug, campaign_id)
    assert 0 < len(attempts) < 30
    assert all(a.created_at < ends for a in attempts)
    assert all(a.state == "ended" for a in attempts)
    assert _campaign(db, slug, campaign_id).status == "finished"


def test_a_pause_by_a_person_stops_new_dials(world: World, db: Database, tmp_path: Path) -> None:
    slug = world_institution(world)
    list_id, numbers = make_list(db, slug, 40)
    campaign_id = running_campaign(db, slug, list_id)
    who = actor(db, slug)

    def pause() -> None:
        with db.scoped() as session:
            tenancy.bind(session, slug=slug)
            service.pause_campaign(session, actor=who, campaign_id=campaign_id)

    Shift(db, slug, tmp_path, numbers, agents=2, mean_handling_s=30.0).run(until_s=900, meanwhile=(120.0, pause))
    attempts = _attempts(db, slug, campaign_id)
    paused_at = START + timedelta(seconds=120)
    assert attempts and all(a.created_at <= paused_at for a in attempts)
    assert all(a.state == "ended" for a in attempts)  # calls in progress were finished, not dropped
    assert _campaign(db, slug, campaign_id).status == "paused"
