"""What the caller hears while waiting (position, estimated wait) and what a wallboard shows per queue."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from callvault.acd.agent_state import AgentState
from callvault.acd.router import Router
from callvault.acd.routing_queue import CallState, RoutingQueue
from callvault.core.errors import Conflict, NotFound

# Agents who will take a call from this queue without a supervisor changing anything.
_STAFFED = frozenset({AgentState.READY, AgentState.RINGING, AgentState.TALKING, AgentState.WRAP_UP})


@dataclass(frozen=True)
class QueueStatus:
    queue_id: uuid.UUID
    waiting: int
    idle_agents: int
    staffed_agents: int
    longest_wait_seconds: float
    average_handle_seconds: float
    service_level: float | None
    service_level_target_pct: int
    answered: int
    abandoned: int
    overflowed: int


def staffed_agents(q: RoutingQueue) -> int:
    return sum(1 for a in q.eligible if a.state in _STAFFED)


def position(router: Router, *, call_id: uuid.UUID) -> int:
    """1-based place in line of a waiting call."""
    call = router.calls.get(call_id)
    if call is None or call.queue_id is None:
        raise NotFound("no such waiting call")
    if call.state is not CallState.WAITING:
        raise Conflict("the call is no longer waiting")
    return router.queues[call.queue_id].position(call)


def estimated_wait(router: Router, *, call_id: uuid.UUID) -> float:
    """Seconds until an agent is expected: calls ahead and this one, times the recent handle time, shared by
    the staffed agents. Rounded up to whole seconds because it is read out to the caller."""
    call = router.calls.get(call_id)
    if call is None or call.queue_id is None:
        raise NotFound("no such waiting call")
    q = router.queues[call.queue_id]
    place = position(router, call_id=call_id)
    staffed = max(1, staffed_agents(q))
    return float(-(-(place * q.aht) // staffed))


def queue_status(router: Router, *, queue_id: uuid.UUID, now: float) -> QueueStatus:
    """A wallboard line for one queue."""
    q = router.queues.get(queue_id)
    if q is None:
        raise NotFound("no such queue")
    oldest = min((c.queued_at for c in q.calls_in_order()), default=now)
    return QueueStatus(
        queue_id=queue_id,
        waiting=q.waiting,
        idle_agents=q.idle_count,
        staffed_agents=staffed_agents(q),
        longest_wait_seconds=now - oldest,
        average_handle_seconds=q.aht,
        service_level=q.service_level(),
        service_level_target_pct=q.config.service_level_target_pct,
        answered=q.answered,
        abandoned=q.abandoned,
        overflowed=q.overflowed,
    )
