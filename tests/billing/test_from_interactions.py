"""Rating the real call legs: closed customer legs of the call records are rated once, agent legs never; a
`callvault billing rate --from-interactions` killed with SIGKILL mid-run and rerun rates each leg exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, insert, select

from callvault.billing.from_interactions import RatingPasses, rate_from_interactions
from callvault.billing.models import BillingRatedLeg
from callvault.billing.rating import Direction, RatingLeg, rate_leg
from callvault.billing.service import rates_of
from callvault.core import clock
from callvault.core.db import Database
from callvault.interactions import service
from callvault.interactions.models import InteractionLeg
from callvault.interactions.schemas import InteractionOpen, PartyKind
from callvault.interactions.service import LegEvent, LegEventKind
from callvault.tenancy import service as tenancy
from tests.billing.helpers import tariff_for, trunk_cost
from tests.fixtures import World
from tests.interactions.helpers import actor_of


def _call(
    db: Database, slug: str, *, at: datetime, talk_s: int, direction: str = "outbound", agent: bool = True
) -> tuple[uuid.UUID, uuid.UUID | None]:
    """A call through the recording action functions: a customer leg (and an agent leg); returns their leg ids."""
    actor = actor_of(db, slug)
    customer, agent_call = f"c-{uuid.uuid4().hex[:8]}", f"a-{uuid.uuid4().hex[:8]}"
    with db.scoped() as session:
        tenancy.bind(session, slug=slug)
        iid = service.open_interaction(session, actor=actor, data=InteractionOpen(direction=direction, offered_at=at))
        customer_leg = service.record_leg_event(
            session,
            actor=actor,
            interaction_id=iid,
            event=LegEvent(
                LegEventKind.STARTED,
                customer,
                at,
                party=PartyKind.CUSTOMER,
                direction=direction,
                remote="sip:+8613800138000@pstn",
                trunk="ct-sh-1",
            ),
        )
        service.record_leg_event(
            session, actor=actor, interaction_id=iid, event=LegEvent(LegEventKind.ANSWERED, customer, at)
        )
        agent_leg = None
        if agent:
            agent_leg = service.record_leg_event(
                session,
                actor=actor,
                interaction_id=iid,
                event=LegEvent(LegEventKind.STARTED, agent_call, at, party=PartyKind.AGENT, direction="outbound"),
            )
            service.record_leg_event(
                session, actor=actor, interaction_id=iid, event=LegEvent(LegEventKind.ANSWERED, agent_call, at)
            )
            service.close_leg(
                session,
                actor=actor,
                interaction_id=iid,
                call_id=agent_call,
                at=at + timedelta(seconds=talk_s),
                cause="normal",
            )
        service.close_leg(
            session,
            actor=actor,
            interaction_id=iid,
            call_id=customer,
            at=at + timedelta(seconds=talk_s),
            cause="normal",
        )
    return customer_leg, agent_leg


def _ledger(db: Database, institution_id: uuid.UUID) -> list[BillingRatedLeg]:
    with db.scoped() as session:
        tenancy.operator_principal(session)
        rows = session.scalars(select(BillingRatedLeg).where(BillingRatedLeg.institution_id == institution_id))
        return list(rows)


def test_customer_legs_of_the_call_records_are_rated_once_and_agent_legs_never(world: World, db: Database) -> None:
    inst = world.institution(roles=())
    tariff = tariff_for(db, inst.id)
    t0 = clock.now() - timedelta(hours=2)
    out_leg, agent_leg = _call(db, inst.slug, at=t0, talk_s=75)
    in_leg, _ = _call(db, inst.slug, at=t0 + timedelta(minutes=5), talk_s=40, direction="inbound", agent=False)

    first = rate_from_interactions(db, since=t0 - timedelta(hours=1), slugs=[inst.slug])
    assert (first.run.read, first.run.rated, first.run.already_rated, first.bad) == (2, 2, 0, [])
    rows = {r.leg_id: r for r in _ledger(db, inst.id)}
    assert set(rows) == {out_leg, in_leg} and agent_leg not in rows

    # The ledger holds what rating the same leg by hand gives, with aware times, outbound at the +86138 rate.
    rates = rates_of([r.model_dump(mode="json") for r in tariff.rates])
    by_hand = rate_leg(
        rates,
        tariff.message_price,
        RatingLeg(out_leg, inst.id, Direction.OUTBOUND, "+86138", "mobile", "ct-sh-1", t0, t0 + timedelta(seconds=75)),
    )
    assert rows[out_leg].rate_key == "+86138" and rows[out_leg].price == by_hand.amount == Decimal("0.1560")
    assert rows[out_leg].ended_at == t0 + timedelta(seconds=75) and rows[out_leg].ended_at.tzinfo is not None
    assert rows[in_leg].direction == "inbound" and rows[in_leg].price == Decimal("0.1000")

    again = rate_from_interactions(db, since=t0 - timedelta(hours=1), slugs=[inst.slug])
    assert (again.run.rated, again.run.already_rated) == (0, 2)

    # The loop's passes: the first reads the look-back period, the next only what ended since (less a margin).
    passes = RatingPasses(db, lookback=timedelta(days=1), full_scan_seconds=3600, slugs=[inst.slug])
    assert passes.run_once().run.already_rated == 2
    late, _ = _call(db, inst.slug, at=clock.now() - timedelta(minutes=1), talk_s=30, agent=False)
    step = passes.run_once()
    assert (step.run.read, step.run.rated) == (1, 1)
    assert late in {r.leg_id for r in _ledger(db, inst.id)}


def test_legs_without_a_tariff_wait_and_are_rated_once_the_tariff_exists(world: World, db: Database) -> None:
    inst = world.institution(roles=())
    t0 = clock.now() - timedelta(hours=1)
    _call(db, inst.slug, at=t0, talk_s=20, agent=False)
    waiting = rate_from_interactions(db, since=t0 - timedelta(minutes=5), slugs=[inst.slug])
    assert waiting.run.rated == 0 and sum(waiting.run.unrated.values()) == 1
    tariff_for(db, inst.id)
    done = rate_from_interactions(db, since=t0 - timedelta(minutes=5), slugs=[inst.slug])
    assert done.run.rated == 1 and len(_ledger(db, inst.id)) == 1


def _bulk_legs(db: Database, slug: str, *, customers: int, agents: int, start: datetime) -> None:
    """Many ended legs at once (the action functions would take minutes for tens of thousands)."""
    actor = actor_of(db, slug)
    with db.scoped() as session:
        inst = tenancy.bind(session, slug=slug)
        iid = service.open_interaction(session, actor=actor, data=InteractionOpen(direction="outbound"))
        rows = []
        for i in range(customers + agents):
            began = start + timedelta(seconds=i)
            rows.append(
                {
                    "id": uuid.uuid4(),
                    "created_at": began,
                    "tenant_id": inst.id,
                    "interaction_id": iid,
                    "call_id": f"leg-{i}",
                    "party": (PartyKind.CUSTOMER if i < customers else PartyKind.AGENT).value,
                    "direction": "outbound",
                    "destination_type": "mobile",
                    "destination_prefix": "+86138",
                    "trunk": "ct-sh-1",
                    "started_at": began,
                    "answered_at": began,
                    "ended_at": began + timedelta(seconds=(i * 7) % 900),
                    "billable_ms": ((i * 7) % 900) * 1000,
                    "state": "ended",
                }
            )
        session.execute(insert(InteractionLeg), rows)
        session.commit()


def _rated(db: Database, institution_id: uuid.UUID) -> int:
    with db.scoped() as session:
        tenancy.operator_principal(session)
        stmt = select(func.count()).select_from(BillingRatedLeg).where(BillingRatedLeg.institution_id == institution_id)
        return int(session.scalar(stmt) or 0)


def _cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "callvault", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_kill_9_during_rating_from_interactions_then_rerun_rates_each_leg_exactly_once(
    world: World, db: Database
) -> None:
    inst = world.institution(roles=())
    tariff_for(db, inst.id)
    trunk_cost(db)
    customers, agents = 20_000, 300
    _bulk_legs(db, inst.slug, customers=customers, agents=agents, start=datetime(2026, 10, 2, tzinfo=UTC))
    args = ("billing", "rate", "--from-interactions", "--since", "2026-10-01", "--tenant", inst.slug, "--json")

    proc = _cli(*args, "--batch", "50")
    deadline = time.monotonic() + 120
    while _rated(db, inst.id) == 0:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "nothing rated in time"
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = _rated(db, inst.id)
    assert 0 < before < customers, "the run was not interrupted mid-way"
    assert before % 50 == 0, "a batch was stored in part"

    rerun = _cli(*args, "--batch", "500")
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    result = json.loads(out)
    assert (result["read"], result["rated"], result["already_rated"]) == (customers, customers - before, before)
    assert result["institutions"] == 1 and result["bad_records"] == 0
    assert _rated(db, inst.id) == customers  # every customer leg once, no agent leg


def test_cli_needs_exactly_one_source() -> None:
    both = subprocess.run(
        [sys.executable, "-m", "callvault", "billing", "rate"], capture_output=True, text=True, timeout=120
    )
    assert both.returncode == 1 and "--from-interactions" in both.stderr
