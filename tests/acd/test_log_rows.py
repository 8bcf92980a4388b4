"""The batched log rows: the fast builders give exactly the rows the previous (per-value method) builders gave,
for a scripted run of the owner on both dialects, and what they store reads back through the typed models."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from callvault.acd import service
from callvault.acd.agent_state import AgentState, StateChange
from callvault.acd.log_rows import LogRows
from callvault.acd.models import AcdAgentStateChange, AcdRoutingDecision
from callvault.acd.router import Decision, Router
from callvault.acd.routing_queue import OverflowKind, QueueConfig
from callvault.core.db import Database
from callvault.security.principal import system_principal
from callvault.tenancy import service as tenancy
from tests.fixtures import Institution, World

S = AgentState
# Fractions chosen to hit the microsecond formatting edges (x.000000, x.999999..., binary float noise).
T0 = 1_800_000_000.0


class ReferenceRows:
    """The builders as they were before the fast loops (one method call per id and time), kept as the oracle."""

    def __init__(self, dialect: str) -> None:
        self.sqlite = dialect == "sqlite"
        self._second = -1
        self._prefix = ""

    def uid(self, value: uuid.UUID | None) -> object:
        if value is None:
            return None
        return value.hex if self.sqlite else value

    def time(self, seconds: float) -> object:
        if not self.sqlite:
            return datetime.fromtimestamp(seconds, UTC)
        whole = int(seconds)
        if whole != self._second:
            self._second = whole
            self._prefix = datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%d %H:%M:%S")
        return f"{self._prefix}.{int((seconds - whole) * 1_000_000):06d}"

    def state_rows(self, tenant_id: uuid.UUID, changes: list[StateChange]) -> list[dict[str, object]]:
        tenant, uid, time = self.uid(tenant_id), self.uid, self.time
        return [
            {
                "tenant_id": tenant,
                "seq": c.seq,
                "agent_id": uid(c.agent_id),
                "state": c.state.value,
                "reason": c.reason,
                "call_id": uid(c.call_id),
                "at": time(c.at),
                "idle_since": time(c.idle_since) if c.idle_since is not None else None,
            }
            for c in changes
        ]

    def decision_rows(self, tenant_id: uuid.UUID, decisions: list[Decision]) -> list[dict[str, object]]:
        tenant, uid, time = self.uid(tenant_id), self.uid, self.time
        return [
            {
                "tenant_id": tenant,
                "seq": d.seq,
                "kind": d.kind,
                "call_id": uid(d.call_id),
                "queue_id": uid(d.queue_id),
                "agent_id": uid(d.agent_id),
                "at": time(d.at),
                "priority": d.priority,
                "wait_ms": int(d.wait * 1000),
                "target": d.target,
            }
            for d in decisions
        ]


def scripted() -> Router:
    """Every kind of entry: queued, offered, answered, requeued (ring no answer), abandoned (waiting and ringing),
    overflowed, callback; ready, ringing, talking, wrap-up, paused, logged out; calls and agents with and without
    ids, times across second boundaries."""
    router = Router(pause_reasons=frozenset({"lunch"}))
    main, spill = uuid.UUID(int=1), uuid.UUID(int=2**128 - 1)
    router.upsert_queue(QueueConfig(id=spill, name="spill", requirements={"cards": 1}), now=T0)
    router.upsert_queue(
        QueueConfig(
            id=main,
            name="main",
            requirements={"cards": 1},
            max_length=1,
            overflow=OverflowKind.QUEUE,
            overflow_queue_id=spill,
        ),
        now=T0,
    )
    agents = [uuid.UUID(int=n) for n in (3, 2**127, 2**128 - 2)]
    for aid in agents:
        router.upsert_agent(aid, skills={"cards": 5}, blended=False, now=T0)
    now = T0 + 0.999_999_5
    router.agent_ready(agents[0], now=now)
    router.agent_ready(agents[1], now=now + 0.000_000_4)
    calls = [uuid.UUID(int=100 + n) for n in range(6)]
    for n, cid in enumerate(calls):
        now += 0.123_456_7
        router.enqueue(cid, queue_id=main, priority=n % 2, now=now)
    router.request_callback(calls[-1], number="+15550100", now=now + 0.5)
    now += 1.000_001
    router.accept(calls[0], now=now)
    router.ring_no_answer(calls[1], now=now + 20.25)  # agent paused, caller back in front
    router.abandon(calls[2], now=now + 21)
    router.finish_call(calls[0], now=now + 90.000_000_1)
    router.end_wrap_up(agents[0], disposition="sold", now=now + 95.5)
    router.agent_ready(agents[2], now=now + 96)
    router.agent_logout(agents[1], now=now + 98.75)
    router.tick(now=now + 200)
    return router


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_fast_rows_equal_the_reference_rows(dialect: str) -> None:
    router = scripted()
    kinds = {d.kind for d in router.decisions}
    assert {"queued", "offered", "answered", "requeued", "abandoned", "overflowed", "callback_requested"} <= kinds
    assert {c.state for c in router.state_changes} == set(AgentState)
    tenant = uuid.UUID("0123456789abcdef0123456789abcdef")
    fast, reference = LogRows(dialect), ReferenceRows(dialect)
    got = fast.decision_rows(tenant, router.decisions), fast.state_rows(tenant, router.state_changes)
    want = reference.decision_rows(tenant, router.decisions), reference.state_rows(tenant, router.state_changes)
    assert got == want
    # Same stored types too (a str subclass or a UUID where text was written would bind differently).
    assert [[type(v) for v in r.values()] for r in got[0] + got[1]] == [
        [type(v) for v in r.values()] for r in want[0] + want[1]
    ]


@pytest.fixture
def bank(world: World) -> Institution:
    return world.institution(roles=())


@pytest.fixture
def session(db: Database, bank: Institution) -> Iterator[Session]:
    with db.scoped() as s:
        tenancy.bind(s, slug=bank.slug)
        yield s


def test_written_rows_read_back_through_the_models(session: Session, bank: Institution) -> None:
    router = scripted()
    actor = system_principal(tenant_id=bank.id, tenant_slug=bank.slug, tenant_kind="institution", name="acd")
    decisions, changes = list(router.decisions), list(router.state_changes)
    written = service.record_routing(session, actor=actor, decisions=decisions, state_changes=changes)
    assert written == len(decisions) + len(changes)

    def stamp(seconds: float) -> datetime:
        # Stored to the microsecond, truncated (SQLite text) or rounded (PostgreSQL): within one microsecond.
        return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)

    def close(stored: datetime | None, seconds: float | None) -> bool:
        if stored is None or seconds is None:
            return stored is None and seconds is None
        return abs((stored.replace(tzinfo=None) - stamp(seconds)).total_seconds()) <= 1e-6

    stored_decisions = session.scalars(select(AcdRoutingDecision).order_by(AcdRoutingDecision.seq)).all()
    assert [
        (r.seq, r.kind, r.call_id, r.queue_id, r.agent_id, r.priority, r.wait_ms, r.target) for r in stored_decisions
    ] == [
        (d.seq, d.kind, d.call_id, d.queue_id, d.agent_id, d.priority, int(d.wait * 1000), d.target) for d in decisions
    ]
    assert all(close(r.at, d.at) for r, d in zip(stored_decisions, decisions, strict=True))
    stored_changes = session.scalars(select(AcdAgentStateChange).order_by(AcdAgentStateChange.seq)).all()
    assert [(r.seq, r.agent_id, r.state, r.reason, r.call_id) for r in stored_changes] == [
        (c.seq, c.agent_id, c.state.value, c.reason, c.call_id) for c in changes
    ]
    assert all(
        close(r.at, c.at) and close(r.idle_since, c.idle_since) for r, c in zip(stored_changes, changes, strict=True)
    )
