"""Rebuilding a tenant's routing owner from the database at start, and a comparable snapshot of one."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callvault.acd.agent_state import AgentState
from callvault.acd.models import (
    AcdAgent,
    AcdAgentSkill,
    AcdAgentStateChange,
    AcdPauseReason,
    AcdQueue,
    AcdRoutingDecision,
)
from callvault.acd.router import Router
from callvault.acd.routing_queue import OverflowKind, QueueConfig, Strategy


def queue_config(row: AcdQueue) -> QueueConfig:
    return QueueConfig(
        id=row.id,
        name=row.name,
        requirements={str(k): int(v) for k, v in row.requirements.items()},
        priority=row.priority,
        strategy=Strategy(row.strategy),
        max_wait_seconds=row.max_wait_seconds,
        max_length=row.max_length,
        overflow=OverflowKind(row.overflow),
        overflow_queue_id=row.overflow_queue_id,
        service_level_seconds=row.service_level_seconds,
        service_level_target_pct=row.service_level_target_pct,
        wrap_up_seconds=row.wrap_up_seconds,
        disposition_required=row.disposition_required,
        default_handle_seconds=row.default_handle_seconds,
    )


def load_router(session: Session) -> Router:
    """The owner of the session's tenant as the database describes it: queues, agents with skills, and each
    agent's last logged state. Offers do not survive a restart: a ringing agent comes back ready (telephony
    re-queues the caller's live leg)."""
    last_seq = max(
        session.scalar(select(func.max(AcdAgentStateChange.seq))) or 0,
        session.scalar(select(func.max(AcdRoutingDecision.seq))) or 0,
    )
    router = Router(pause_reasons=frozenset(session.scalars(select(AcdPauseReason.code)).all()), first_seq=last_seq + 1)
    for queue in session.scalars(select(AcdQueue).order_by(AcdQueue.id)):
        router.upsert_queue(queue_config(queue), now=0.0)
    skills: dict[Any, dict[str, int]] = {}
    for row in session.scalars(select(AcdAgentSkill)):
        skills.setdefault(row.agent_id, {})[row.skill] = row.level
    for agent in session.scalars(select(AcdAgent).order_by(AcdAgent.id)):
        router.upsert_agent(agent.id, skills=skills.get(agent.id, {}), blended=agent.blended, now=0.0)
    newest = (
        select(AcdAgentStateChange.agent_id, func.max(AcdAgentStateChange.seq).label("seq"))
        .group_by(AcdAgentStateChange.agent_id)
        .subquery()
    )
    latest = select(AcdAgentStateChange).join(
        newest, (AcdAgentStateChange.agent_id == newest.c.agent_id) & (AcdAgentStateChange.seq == newest.c.seq)
    )
    for change in session.scalars(latest):
        if change.agent_id in router.agents:
            router.restore_agent(
                change.agent_id,
                state=AgentState(change.state),
                since=change.at.timestamp(),
                reason=change.reason,
                idle_since=change.idle_since.timestamp() if change.idle_since else change.at.timestamp(),
                call_id=change.call_id,
            )
    return router


def snapshot(router: Router) -> dict[str, Any]:
    """Everything a rebuild must reproduce, in plain comparable values (times to the millisecond)."""
    return {
        "pause_reasons": sorted(router.pause_reasons),
        "queues": {str(q.id): q.config for q in router.queues.values()},
        "eligible": {str(q.id): sorted(str(a.id) for a in q.eligible) for q in router.queues.values()},
        "agents": {
            str(a.id): {
                "skills": a.skills,
                "blended": a.blended,
                "state": a.state.value,
                "reason": a.reason,
                "since": round(a.since, 3),
                "idle_since": round(a.idle_since, 3) if a.state is AgentState.READY else None,
            }
            for a in router.agents.values()
        },
        "idle": {str(q.id): q.idle_count for q in router.queues.values()},
    }
