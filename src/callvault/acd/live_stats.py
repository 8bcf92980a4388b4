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


def snapshot(router: Router, day: DayStats, *, now: float) -> dict[str, Any]:
    """Per queue and per agent figures as the API and the wallboard stream return them."""
    queues = []
    for q in sorted(router.queues.values(), key=lambda q: q.config.name):
        counts = day.queues.get(q.id, QueueDay())
        offered = len(counts.entered)
        by_state = {s.value: 0 for s in AgentState}
        for agent in q.eligible:
            by_state[agent.state.value] += 1
        queues.append(
            {
                "queue_id": str(q.id),
                "name": q.config.name,
                "calls_waiting": q.waiting,
                "longest_wait_seconds": round(_longest_wait(q, now), 3),
                "offered_today": offered,
                "answered_today": counts.answered,
                "answered_within_target_today": counts.answered_in_target,
                "service_level": _ratio(counts.answered_in_target, offered),
                "service_level_seconds": q.config.service_level_seconds,
                "service_level_target_pct": q.config.service_level_target_pct,
                "asa_seconds": round(counts.wait_answered / counts.answered, 3) if counts.answered else None,
                "abandoned_today": counts.abandoned,
                "abandon_rate": _ratio(counts.abandoned, offered),
                "overflowed_today": counts.overflowed,
                "agents_by_state": by_state,
            }
        )
    agents = [
        {
            "agent_id": str(a.id),
            "state": a.state.value,
            "reason": a.reason,
            "seconds_in_state": round(max(0.0, now - a.since), 3) if a.since else None,
            "calls_handled_today": day.handled.get(a.id, 0),
        }
        for a in sorted(router.agents.values(), key=lambda a: str(a.id))
    ]
    return {"at": datetime.fromtimestamp(now, UTC).isoformat(), "queues": queues, "agents": agents}
