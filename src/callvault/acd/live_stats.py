"""Live ACD statistics of one institution: today's per-queue counters, fed by the owner's routing decisions.

"Today" is the UTC day. The counters are rebuilt from the decision log when an owner is loaded, so a restart
does not reset a wallboard; the waiting calls and agent states are read from the owner itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from callvault.acd.agent_state import AgentState
from callvault.acd.models import AcdRoutingDecision
from callvault.acd.router import Router
from callvault.acd.routing_queue import CallState, RoutingQueue
from callvault.acd.routing_state import Decision


@dataclass
class QueueDay:
    entered: set[uuid.UUID] = field(default_factory=set)  # calls offered to the queue today (each once)
    answered: int = 0
    answered_in_target: int = 0
    wait_answered: float = 0.0  # summed waits of answered calls, for the average speed of answer
    abandoned: int = 0
    overflowed: int = 0


class DayStats:
    """Today's counters per queue and calls handled per agent."""

    def __init__(self, day: date) -> None:
        self.day = day
        self.queues: dict[uuid.UUID, QueueDay] = {}
        self.handled: dict[uuid.UUID, int] = {}

    @classmethod
    def load(cls, session: Session, router: Router, *, now: datetime) -> DayStats:
        """Today's counters from the decision log (the session is bound to the institution)."""
        stats = cls(now.date())
        midnight = datetime.combine(stats.day, time(0), UTC)
        rows = session.scalars(
            select(AcdRoutingDecision).where(AcdRoutingDecision.at >= midnight).order_by(AcdRoutingDecision.seq)
        )
        stats.apply(
            router,
            (
                Decision(r.seq, r.kind, r.call_id, r.queue_id, r.agent_id, 0.0, r.priority, r.wait_ms / 1000, r.target)
                for r in rows
            ),
        )
        return stats

    def roll(self, now: datetime) -> None:
        if now.date() != self.day:
            self.day, self.queues, self.handled = now.date(), {}, {}

    def apply(self, router: Router, decisions: Iterable[Decision]) -> None:
        for d in decisions:
            if d.queue_id is None:
                continue  # outbound calls of blended agents are not queue traffic
            day = self.queues.setdefault(d.queue_id, QueueDay())
            if d.kind in ("queued", "offered"):
                day.entered.add(d.call_id)
            elif d.kind == "answered":
                day.entered.add(d.call_id)
                day.answered += 1
                day.wait_answered += d.wait
                q = router.queues.get(d.queue_id)
                if q is not None and d.wait <= q.config.service_level_seconds:
                    day.answered_in_target += 1
                if d.agent_id is not None:
                    self.handled[d.agent_id] = self.handled.get(d.agent_id, 0) + 1
            elif d.kind == "abandoned":
                day.abandoned += 1
            elif d.kind == "overflowed":
                day.overflowed += 1


def _longest_wait(q: RoutingQueue, now: float) -> float:
    # Each priority line is in arrival order, so its first live call is its oldest.
    oldest: float | None = None
    for line in q.lines.values():
        for call in line:
            if call.state is CallState.WAITING and call.queue_id == q.id:
                oldest = call.queued_at if oldest is None else min(oldest, call.queued_at)
                break
    return max(0.0, now - oldest) if oldest is not None else 0.0


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


@dataclass(frozen=True)
class QueueFigures:
    queue_id: uuid.UUID
    name: str
    service_level_seconds: int
    service_level_target_pct: int
    waiting: int
    longest_wait: float
    offered: int
    answered: int
    answered_in_target: int
    wait_answered: float
    abandoned: int
    overflowed: int
    by_state: dict[AgentState, int]


@dataclass(frozen=True)
class Capture:
    """The raw figures, taken under the owner's lock; turning them into JSON-ready dicts happens outside it."""

    now: float
    queues: list[QueueFigures]
    agents: list[tuple[uuid.UUID, AgentState, str, float, int]]


def capture(router: Router, day: DayStats, *, now: float) -> Capture:
    queues = []
    for q in router.queues.values():
        c = q.config
        by_state: dict[AgentState, int] = dict.fromkeys(AgentState, 0)
        for agent in q.eligible:
            by_state[agent.state] += 1
        d = day.queues.get(q.id, QueueDay())
        queues.append(
            QueueFigures(
                c.id,
                c.name,
                c.service_level_seconds,
                c.service_level_target_pct,
                q.waiting,
                _longest_wait(q, now),
                len(d.entered),
                d.answered,
                d.answered_in_target,
                d.wait_answered,
                d.abandoned,
                d.overflowed,
                by_state,
            )
        )
    handled = day.handled
    agents = [(a.id, a.state, a.reason, a.since, handled.get(a.id, 0)) for a in router.agents.values()]
    return Capture(now, queues, agents)


def render(raw: Capture) -> dict[str, Any]:
    """Per queue and per agent figures as the API and the wallboard stream return them."""
    now = raw.now
    queues = [
        {
            "queue_id": str(f.queue_id),
            "name": f.name,
            "calls_waiting": f.waiting,
            "longest_wait_seconds": round(f.longest_wait, 3),
            "offered_today": f.offered,
            "answered_today": f.answered,
            "answered_within_target_today": f.answered_in_target,
            "service_level": _ratio(f.answered_in_target, f.offered),
            "service_level_seconds": f.service_level_seconds,
            "service_level_target_pct": f.service_level_target_pct,
            "asa_seconds": round(f.wait_answered / f.answered, 3) if f.answered else None,
            "abandoned_today": f.abandoned,
            "abandon_rate": _ratio(f.abandoned, f.offered),
            "overflowed_today": f.overflowed,
            "agents_by_state": {state.value: n for state, n in f.by_state.items()},
        }
        for f in sorted(raw.queues, key=lambda f: f.name)
    ]
    agents = [
        {
            "agent_id": str(agent_id),
            "state": str(state),
            "reason": reason,
            "seconds_in_state": round(max(0.0, now - since), 3) if since else None,
            "calls_handled_today": handled,
        }
        for agent_id, state, reason, since, handled in sorted(raw.agents, key=lambda e: e[0])
    ]
    return {"at": datetime.fromtimestamp(now, UTC).isoformat(), "queues": queues, "agents": agents}


def snapshot(router: Router, day: DayStats, *, now: float) -> dict[str, Any]:
    return render(capture(router, day, now=now))
