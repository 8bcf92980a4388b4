"""The routing owner's state and bookkeeping: every agent state change and every decision goes through here,
so the idle-agent indexes and the two logs cannot drift from the agents themselves."""

from __future__ import annotations

import heapq
import itertools
import threading
import uuid
from dataclasses import dataclass
from typing import NamedTuple

from callvault.acd.agent_state import AgentState, StateChange, transition
from callvault.acd.routing_queue import Agent, Call, CallState, QueueConfig, RoutingQueue
from callvault.core.errors import NotFound

S = AgentState


class Offer(NamedTuple):
    call_id: uuid.UUID
    agent_id: uuid.UUID
    queue_id: uuid.UUID | None


@dataclass(slots=True)
class Decision:
    """One routing decision: queued, offered, answered, requeued, abandoned, overflowed, callback_requested."""

    seq: int
    kind: str
    call_id: uuid.UUID
    queue_id: uuid.UUID | None
    agent_id: uuid.UUID | None
    at: float
    priority: int = 0
    wait: float = 0.0
    target: str = ""


class RoutingState:
    """Queues, agents and calls of one tenant with the bookkeeping the routing operations share."""

    def __init__(
        self, *, pause_reasons: frozenset[str] = frozenset(), first_seq: int = 1, ring_timeout_seconds: float = 20.0
    ) -> None:
        self.ring_timeout = ring_timeout_seconds
        # Held by the log writer while it takes a batch, and by an action that logs a change itself.
        self.log_lock = threading.Lock()
        self.queues: dict[uuid.UUID, RoutingQueue] = {}
        self.agents: dict[uuid.UUID, Agent] = {}
        self.calls: dict[uuid.UUID, Call] = {}
        self.pause_reasons = set(pause_reasons)
        self.decisions: list[Decision] = []
        self.state_changes: list[StateChange] = []
        self._agents_by_skill: dict[str, set[Agent]] = {}
        self._queues_by_skill: dict[str, set[uuid.UUID]] = {}
        self._open_queues: set[uuid.UUID] = set()  # queues without skill requirements
        self._blended_idle: list[tuple[float, int, int, Agent]] = []
        self._wrap_ups: list[tuple[float, int, Agent]] = []
        # Offers by deadline: if telephony never reports the outcome, tick() treats it as ring-no-answer,
        # so no agent stays reserved for a call that went nowhere.
        self._ringing: list[tuple[float, int, Call]] = []
        self._seq = itertools.count(first_seq)  # continues the stored log after a rebuild

    # --- configuration ---------------------------------------------------------------------------------------

    @staticmethod
    def _eligible(agent: Agent, config: QueueConfig) -> bool:
        return all(agent.skills.get(s, 0) >= level for s, level in config.requirements.items())

    def _offer(self, call: Call, agent: Agent, q: RoutingQueue | None, now: float, *, target: str = "") -> Offer:
        assert agent.call is None and agent.state is S.READY
        call.state, call.agent, agent.call, call.offered_at = CallState.OFFERED, agent, call, now
        heapq.heappush(self._ringing, (now + self.ring_timeout, self._next(), call))
        if q is not None:
            q.rr_counter += 1
            agent.rr_mark[q.id] = q.rr_counter
        self._set_state(agent, S.RINGING, now, call_id=call.id)
        target = target or ("outbound" if q is None else ("callback" if call.callback_number else ""))
        self._decide("offered", call, call.queue_id, agent.id, now, wait=now - call.arrived_at, target=target)
        return Offer(call.id, agent.id, call.queue_id)

    # --- state bookkeeping -----------------------------------------------------------------------------------

    def _set_state(
        self,
        agent: Agent,
        target: AgentState,
        now: float,
        *,
        reason: str = "",
        call_id: uuid.UUID | None = None,
        keep_idle_since: bool = False,
    ) -> None:
        was_ready = agent.state is S.READY
        agent.state = transition(agent.state, target)
        agent.since, agent.reason = now, reason
        if was_ready:
            self._leave_idle(agent)
        elif target is S.READY:
            if not keep_idle_since:
                agent.idle_since = now
            self._enter_idle(agent)
        self.state_changes.append(
            StateChange(
                seq=self._next(),
                agent_id=agent.id,
                state=target,
                at=now,
                reason=reason,
                call_id=call_id,
                idle_since=agent.idle_since if target is S.READY else None,
            )
        )

    def _enter_idle(self, agent: Agent) -> None:
        agent.epoch += 1
        for qid in agent.queues:
            self.queues[qid].push_idle(agent)
        if agent.blended:
            heap = self._blended_idle
            heapq.heappush(heap, (agent.idle_since, next(self._seq), agent.epoch, agent))
            if len(heap) > 2 * len(self.agents) + 64:
                self._blended_idle = [e for e in heap if e[2] == e[3].epoch and e[3].state is S.READY]
                heapq.heapify(self._blended_idle)

    def _leave_idle(self, agent: Agent) -> None:
        agent.epoch += 1
        for qid in agent.queues:
            self.queues[qid].idle_count -= 1

    def _decide(
        self,
        kind: str,
        call: Call,
        queue_id: uuid.UUID | None,
        agent_id: uuid.UUID | None,
        now: float,
        *,
        wait: float = 0.0,
        target: str = "",
    ) -> None:
        self.decisions.append(
            Decision(self._next(), kind, call.id, queue_id, agent_id, now, call.priority, wait, target)
        )

    def _next(self) -> int:
        return next(self._seq)

    def _agent(self, agent_id: uuid.UUID) -> Agent:
        agent = self.agents.get(agent_id)
        if agent is None:
            raise NotFound("no such agent")
        return agent

    def _queue(self, queue_id: uuid.UUID) -> RoutingQueue:
        q = self.queues.get(queue_id)
        if q is None:
            raise NotFound("no such queue")
        return q

    def _call(self, call_id: uuid.UUID) -> Call:
        call = self.calls.get(call_id)
        if call is None:
            raise NotFound("no such call")
        return call
