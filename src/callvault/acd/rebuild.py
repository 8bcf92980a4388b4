"""Rebuilding a tenant's routing owner from the database at start, and a comparable snapshot of one."""

from __future__ import annotations

import uuid
from datetime import timedelta
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
from callvault.acd.routing_queue import Call, CallState, OverflowKind, QueueConfig, Strategy
from callvault.core import clock


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


# How far back the rebuild looks for calls left open in the decision log. Every rebuild closes the open calls it
# finds, so the ones left belong to the last owner's run; a caller does not wait a day in a queue.
OPEN_CALL_HORIZON = timedelta(days=1)
# Newest decision of a call that leaves it in the ACD: waiting in a queue, or ringing at an agent.
WAITING_KINDS = ("queued", "requeued", "callback_requested")
RINGING_KINDS = ("offered",)


def _open_calls(session: Session) -> dict[uuid.UUID, AcdRoutingDecision]:
    """Calls whose newest logged decision leaves them waiting or ringing, with that decision."""
    newest_at = session.scalar(select(func.max(AcdRoutingDecision.at)))
    if newest_at is None:
        return {}
    newest = (
        select(AcdRoutingDecision.call_id, func.max(AcdRoutingDecision.seq).label("seq"))
        .where(AcdRoutingDecision.at >= newest_at - OPEN_CALL_HORIZON)
        .group_by(AcdRoutingDecision.call_id)
        .subquery()
    )
    rows = session.scalars(
        select(AcdRoutingDecision)
        .join(newest, (AcdRoutingDecision.call_id == newest.c.call_id) & (AcdRoutingDecision.seq == newest.c.seq))
        .where(AcdRoutingDecision.kind.in_(WAITING_KINDS + RINGING_KINDS))
        .order_by(AcdRoutingDecision.seq)
    )
    return {row.call_id: row for row in rows}


def _answered_in(session: Session, call_ids: list[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID | None]:
    """The queue each of these connected calls was answered from (the agent state log does not name it)."""
    found: dict[uuid.UUID, uuid.UUID | None] = {}
    for i in range(0, len(call_ids), 500):
        rows = session.execute(
            select(AcdRoutingDecision.call_id, AcdRoutingDecision.queue_id).where(
                AcdRoutingDecision.call_id.in_(call_ids[i : i + 500]), AcdRoutingDecision.kind == "answered"
            )
        )
        found.update({call_id: queue_id for call_id, queue_id in rows})
    return found


def _call(row: AcdRoutingDecision | None, call_id: uuid.UUID, seq: int, at: float) -> Call:
    if row is None:  # not in the decision log's recent past (or its batch was lost): no queue known
        return Call(call_id, None, 0, at, at, seq)
    t = clock.as_utc(row.at).timestamp()
    return Call(call_id, row.queue_id, row.priority, t - row.wait_ms / 1000, t, seq)


def load_router(session: Session) -> Router:
    """The owner of the session's tenant as the database describes it: queues, agents with skills, each agent's
    last logged state with the call it held, and the calls the decision log shows waiting. Those calls belong to the
    previous owner, whose process stopped: `service.end_interrupted_calls` closes them before the owner serves."""
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
    changes = [c for c in session.scalars(latest) if c.agent_id in router.agents]
    open_calls = _open_calls(session)
    talking = [c.call_id for c in changes if c.state == AgentState.TALKING and c.call_id is not None]
    answered_from = _answered_in(session, talking)
    for change in changes:
        state, since = AgentState(change.state), change.at.timestamp()
        call = None
        if state in (AgentState.RINGING, AgentState.TALKING) and change.call_id is not None:
            if state is AgentState.RINGING:
                call = _call(open_calls.pop(change.call_id, None), change.call_id, change.seq, since)
                call.state, call.offered_at = CallState.OFFERED, since
            else:
                call = Call(change.call_id, answered_from.get(change.call_id), 0, since, since, change.seq)
                call.state, call.answered_at = CallState.CONNECTED, since
        router.restore_agent(
            change.agent_id,
            state=state,
            since=since,
            reason=change.reason,
            idle_since=change.idle_since.timestamp() if change.idle_since else since,
            call=call,
        )
    # Left: waiting calls, and offers whose agent's log moved on (nobody holds them): both are put back waiting.
    for left in open_calls.values():
        router.restore_waiting(_call(left, left.call_id, left.seq, clock.as_utc(left.at).timestamp()))
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
