"""A restarted process and the calls the previous owner held: the rebuild puts back what the log shows (waiting
calls, ringing and talking agents with their calls), then closes those calls, since their media died with the old
process: logged as abandoned with cause `interrupted`, agents released by the ring and wrap-up rules, today's
counters consistent again. On the real database, through the action functions."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from callvault.acd import rebuild
from callvault.acd.agent_state import AgentState
from callvault.acd.models import AcdAgentStateChange, AcdRoutingDecision
from callvault.acd.owner import AcdOwners, TenantOwner
from callvault.acd.routing_queue import CallState
from callvault.core import clock
from callvault.core.db import Database
from callvault.core.outbox_models import OutboxEvent
from callvault.core.tenant_context import set_tenant
from callvault.security.audit_models import AuditEvent
from tests.acd.test_owner import actor_of, go_ready, staffed
from tests.fixtures import Institution, World

S = AgentState


def one_offer(owner: TenantOwner, call: uuid.UUID, queue: uuid.UUID) -> uuid.UUID:
    (offer,) = owner.enqueue(call, queue_id=queue)
    return offer.agent_id


def consistent(q: dict[str, int], *, ringing: int) -> bool:
    """Every call offered today is answered, abandoned, overflowed, waiting, or (live only) ringing at an agent."""
    ended = q["answered_today"] + q["abandoned_today"] + q["overflowed_today"]
    return q["offered_today"] == ended + q["calls_waiting"] + ringing


def open_floor(db: Database, bank: Institution) -> tuple[TenantOwner, uuid.UUID, dict[str, uuid.UUID], float]:
    """An owner that stops with, in one queue: a talking agent, two ringing agents (one rang 25 s before the
    restart, one 10 s), two agents paused by ring-no-answer, a requeued and a queued caller, and a caller who hung
    up normally. Returns the owner, the queue, the agents and calls by name, and the second offer's time."""
    owner, queue, (x, p, q, w, v) = staffed(db, AcdOwners(db, tick_seconds=0), bank.slug, 5)
    actor = actor_of(db, bank.slug)
    ids = {"c1": uuid.uuid4(), "c2": uuid.uuid4(), "c5": uuid.uuid4(), "c6": uuid.uuid4(), "c7": uuid.uuid4()}
    for agent in (x, p, q):
        go_ready(db, owner, actor, agent)
        clock.travel(1)
    talking = one_offer(owner, ids["c1"], queue)
    owner.accept(agent_id=talking, call_id=ids["c1"])
    hung_up = uuid.uuid4()
    released = one_offer(owner, hung_up, queue)
    owner.abandon(hung_up)  # an ordinary abandon before the stop: the agent keeps its turn
    ringing_long = one_offer(owner, ids["c2"], queue)
    rejecting = one_offer(owner, ids["c7"], queue)
    owner.reject(agent_id=rejecting, call_id=ids["c7"])  # paused; c7 back in front, nobody ready: waits
    assert {talking, ringing_long, rejecting} == {x, p, q} and released == ringing_long
    clock.travel(15)
    go_ready(db, owner, actor, w)  # takes c7 (front of the line): rings 10 s before the restart
    go_ready(db, owner, actor, v)
    assert one_offer(owner, ids["c5"], queue) == v
    owner.reject(agent_id=v, call_id=ids["c5"])  # c5 requeued, nobody ready
    owner.enqueue(ids["c6"], queue_id=queue)
    offered_at = clock.now().timestamp()
    agents = {
        "talking": talking,
        "ringing_long": ringing_long,
        "ringing_short": w,
        "paused_q": rejecting,
        "paused_v": v,
    }
    assert owner.router.agents[w].state is S.RINGING and owner.router.agents[w].call.id == ids["c7"]  # type: ignore[union-attr]
    return owner, queue, {**agents, **ids}, offered_at


def test_the_log_rebuilds_the_calls_the_old_owner_held(db: Database, world: World) -> None:
    bank = world.institution(roles=())
    old, queue, n, _ = open_floor(db, bank)
    with db.scoped() as session:
        set_tenant(session, bank.id)
        rebuilt = rebuild.load_router(session)
    assert {c: (k.state, k.queue_id) for c, k in rebuilt.calls.items()} == {
        c: (k.state, k.queue_id) for c, k in old.router.calls.items()
    }
    assert rebuilt.calls[n["c1"]].agent.id == n["talking"]  # type: ignore[union-attr]
    assert [c.id for c in rebuilt.queues[queue].calls_in_order()] == [n["c5"], n["c6"]]
    assert rebuild.snapshot(rebuilt) == rebuild.snapshot(old.router)


def test_a_restart_closes_the_calls_of_the_stopped_owner(db: Database, world: World) -> None:
    bank = world.institution(roles=())
    old, queue, n, offered_at = open_floor(db, bank)
    w_idle_since = old.router.agents[n["ringing_short"]].idle_since
    before = old.stats()["queues"][0]
    assert (before["offered_today"], before["answered_today"], before["abandoned_today"]) == (6, 1, 1)
    assert before["calls_waiting"] == 2 and consistent(before, ringing=2)
    clock.travel(10)  # the process is gone; a new one starts 10 s after the last offer

    new = AcdOwners(db, tick_seconds=0).of(bank.id, bank.slug)
    agents = new.router.agents
    assert (agents[n["talking"]].state, agents[n["talking"]].reason) == (S.WRAP_UP, "interrupted")
    assert agents[n["talking"]].wrap_up_deadline == pytest.approx(new.now() + 30, abs=2)  # the queue's limit
    assert (agents[n["ringing_long"]].state, agents[n["ringing_long"]].reason) == (S.PAUSED, "ring_no_answer")
    assert agents[n["ringing_short"]].state is S.READY
    assert agents[n["ringing_short"]].idle_since == pytest.approx(w_idle_since, abs=1e-3)
    assert {agents[n["paused_q"]].state, agents[n["paused_v"]].state} == {S.PAUSED}
    assert all(a.call is None for a in agents.values()) and new.router.calls == {}
    after = new.stats()["queues"][0]
    assert (after["offered_today"], after["answered_today"], after["abandoned_today"]) == (6, 1, 5)
    assert after["calls_waiting"] == 0 and after["agents_by_state"]["ringing"] == 0 and consistent(after, ringing=0)

    with db.scoped() as session:
        set_tenant(session, bank.id)
        ended = session.execute(
            select(AcdRoutingDecision.call_id, AcdRoutingDecision.agent_id).where(
                AcdRoutingDecision.kind == "abandoned", AcdRoutingDecision.target == "interrupted"
            )
        ).all()
        newest = {
            c.agent_id: (c.state, c.reason, c.call_id)
            for c in session.scalars(select(AcdAgentStateChange).order_by(AcdAgentStateChange.seq))
        }
        audits = session.scalars(select(AuditEvent).where(AuditEvent.action == "acd.calls.interrupted")).all()
        events = session.scalar(select(func.count()).where(OutboxEvent.name == f"t.{bank.slug}.acd.calls.interrupted"))
    assert dict(ended) == {n["c2"]: n["ringing_long"], n["c7"]: n["ringing_short"], n["c5"]: None, n["c6"]: None}
    assert newest[n["talking"]] == ("wrap_up", "interrupted", n["c1"])
    assert newest[n["ringing_long"]] == ("paused", "ring_no_answer", n["c2"])
    assert newest[n["ringing_short"]] == ("ready", "", n["c7"])
    assert [a.details for a in audits] == [{"waiting": 2, "ringing": 2, "talking": 1}] and events == 1
    assert offered_at + 10 == pytest.approx(new.now(), abs=2)

    # The next restart finds nothing open: nothing more is closed, the state is the same.
    again = AcdOwners(db, tick_seconds=0).of(bank.id, bank.slug)
    assert {a.id: (a.state, a.reason) for a in again.router.agents.values()} == {
        a.id: (a.state, a.reason) for a in agents.values()
    }
    assert again.stats()["queues"][0]["abandoned_today"] == 5
    with db.scoped() as session:
        set_tenant(session, bank.id)
        assert session.scalar(select(func.count()).where(AuditEvent.action == "acd.calls.interrupted")) == 1

    # The new owner serves: the released agent takes the next caller; the cut conversation's wrap-up ends by hand
    # (its disposition) or by the queue's limit.
    nxt = uuid.uuid4()
    assert [o.agent_id for o in new.enqueue(nxt, queue_id=queue)] == [n["ringing_short"]]
    new.accept(agent_id=n["ringing_short"], call_id=nxt)
    assert new.router.calls[nxt].state is CallState.CONNECTED
    clock.travel(31)
    new.tick()
    assert (agents[n["talking"]].state, agents[n["talking"]].reason) == (S.READY, "wrap_up_timeout")


def test_a_restart_of_a_quiet_floor_writes_nothing(db: Database, world: World) -> None:
    bank = world.institution(roles=())
    owner, _, (agent,) = staffed(db, AcdOwners(db, tick_seconds=0), bank.slug, 1)
    go_ready(db, owner, actor_of(db, bank.slug), agent)
    new = AcdOwners(db, tick_seconds=0).of(bank.id, bank.slug)
    assert new.router.agents[agent].state is S.READY
    with db.scoped() as session:
        set_tenant(session, bank.id)
        assert session.scalar(select(func.count()).where(AuditEvent.action == "acd.calls.interrupted")) == 0
