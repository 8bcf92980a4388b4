"""The routing owner of one institution: all queue, call and agent state in memory, one decision at a time.

Every operation returns the offers it made (telephony rings those agents) and appends what happened to
`decisions` and `state_changes`, which `DecisionWriter` persists in batches. The owner is single-threaded by
design: a reservation is a field assignment, so two decisions can never give one agent two calls.
"""

from __future__ import annotations

import heapq
import uuid

from callvault.acd.agent_state import (
    INTERRUPTED,
    RING_NO_ANSWER,
    SYSTEM_PAUSE_REASONS,
    WRAP_UP_TIMEOUT,
    AgentState,
)
from callvault.acd.routing_queue import Agent, Call, CallState, OverflowKind, QueueConfig, RoutingQueue
from callvault.acd.routing_state import Decision, Offer, RoutingState
from callvault.core.errors import Conflict, InvalidInput, NotFound

__all__ = ["Decision", "Offer", "Router"]

S = AgentState
MAX_OVERFLOW_HOPS = 3
# The queue of a call in wrap-up is not logged, so a rebuilt wrap-up gets this limit.
RESTORED_WRAP_UP_SECONDS = 60


class Router(RoutingState):
    """In-memory routing state of one tenant. Times are seconds since the epoch, passed in by the caller."""

    def upsert_queue(self, config: QueueConfig, *, now: float) -> list[Offer]:
        """Add or reconfigure a queue; waiting calls keep their place, eligibility is recomputed."""
        old = self.queues.get(config.id)
        q = RoutingQueue(config)
        if old is not None:
            for agent in old.eligible:
                agent.queues.discard(config.id)
            for skill in old.config.requirements:
                self._queues_by_skill[skill].discard(config.id)
            self._open_queues.discard(config.id)
            q.lines, q.levels, q.waiting = old.lines, old.levels, old.waiting
            q.answered, q.answered_in_sl, q.aht = old.answered, old.answered_in_sl, old.aht
            q.abandoned, q.abandoned_late, q.overflowed = old.abandoned, old.abandoned_late, old.overflowed
        self.queues[config.id] = q
        if config.requirements:
            for skill in config.requirements:
                self._queues_by_skill.setdefault(skill, set()).add(config.id)
            rarest = min(config.requirements, key=lambda s: len(self._agents_by_skill.get(s, ())))
            candidates: set[Agent] | list[Agent] = self._agents_by_skill.get(rarest, set())
        else:
            self._open_queues.add(config.id)
            candidates = list(self.agents.values())
        for agent in candidates:
            if self._eligible(agent, config):
                q.eligible.add(agent)
                agent.queues.add(config.id)
                if agent.state is S.READY:
                    q.push_idle(agent)
        return self._dispatch_queue(q, now)

    def upsert_agent(self, agent_id: uuid.UUID, *, skills: dict[str, int], blended: bool, now: float) -> list[Offer]:
        """Add an agent or change its skills (proficiency 1..10) and blended flag."""
        for skill, level in skills.items():
            if not 1 <= level <= 10:
                raise InvalidInput.one(f"skills.{skill}", "proficiency must be 1..10")
        agent = self.agents.get(agent_id)
        if agent is None:
            agent = self.agents[agent_id] = Agent(id=agent_id, skills={})
        was_ready = agent.state is S.READY
        if was_ready:
            self._leave_idle(agent)
        for skill in agent.skills:
            self._agents_by_skill[skill].discard(agent)
        for qid in agent.queues:
            self.queues[qid].eligible.discard(agent)
        agent.skills, agent.blended = dict(skills), blended
        for skill in skills:
            self._agents_by_skill.setdefault(skill, set()).add(agent)
        candidates = set(self._open_queues)
        for skill in skills:
            candidates |= self._queues_by_skill.get(skill, set())
        agent.queues = {qid for qid in candidates if self._eligible(agent, self.queues[qid].config)}
        for qid in agent.queues:
            self.queues[qid].eligible.add(agent)
        if was_ready:
            self._enter_idle(agent)
            return self._dispatch_agent(agent, now)
        return []

    # --- agent states ----------------------------------------------------------------------------------------

    def agent_ready(self, agent_id: uuid.UUID, *, now: float) -> list[Offer]:
        """Log in or come back from a pause; the agent may get a waiting call at once."""
        agent = self._agent(agent_id)
        if agent.state is S.WRAP_UP:
            raise Conflict("an agent in wrap-up leaves it with end_wrap_up (disposition)")
        self._set_state(agent, S.READY, now)
        return self._dispatch_agent(agent, now)

    def agent_pause(self, agent_id: uuid.UUID, *, reason: str, now: float) -> None:
        """Pause with one of the institution's reason codes."""
        agent = self._agent(agent_id)
        if reason not in self.pause_reasons and reason not in SYSTEM_PAUSE_REASONS:
            raise InvalidInput.one("reason", "unknown pause reason code")
        if agent.state is S.WRAP_UP:
            raise Conflict("an agent in wrap-up leaves it with end_wrap_up (disposition)")
        self._set_state(agent, S.PAUSED, now, reason=reason)

    def agent_logout(self, agent_id: uuid.UUID, *, now: float) -> None:
        agent = self._agent(agent_id)
        if agent.state is S.WRAP_UP:
            raise Conflict("an agent in wrap-up leaves it with end_wrap_up (disposition)")
        self._set_state(agent, S.LOGGED_OUT, now)

    def end_wrap_up(
        self, agent_id: uuid.UUID, *, disposition: str, now: float, then: AgentState = S.READY, reason: str = ""
    ) -> list[Offer]:
        """Close wrap-up with the call's disposition and go ready, paused or logged out."""
        agent = self._agent(agent_id)
        if agent.state is not S.WRAP_UP:
            raise Conflict("the agent is not in wrap-up")
        q = self.queues.get(agent.last_queue_id) if agent.last_queue_id else None
        if not disposition and q is not None and q.config.disposition_required:
            raise InvalidInput.one("disposition", "this queue requires a disposition")
        if then is S.PAUSED and reason not in self.pause_reasons:
            raise InvalidInput.one("reason", "unknown pause reason code")
        self._set_state(agent, then, now, reason=reason if then is S.PAUSED else disposition)
        return self._dispatch_agent(agent, now) if then is S.READY else []

    def can_change(self, agent_id: uuid.UUID, target: AgentState) -> bool:
        agent = self.agents.get(agent_id)
        # An agent holding a call (ringing, talking) or in wrap-up changes state through it: answer or decline the
        # offer, end the wrap-up. A hand-made change while ringing would leave the offer attached to the agent.
        busy = (S.WRAP_UP, S.RINGING, S.TALKING)
        return agent is not None and target in {S.READY, S.PAUSED, S.LOGGED_OUT} and agent.state not in busy

    def restore_agent(
        self,
        agent_id: uuid.UUID,
        *,
        state: AgentState,
        since: float,
        reason: str,
        idle_since: float,
        call: Call | None = None,
    ) -> None:
        """Put back an agent's logged state at a rebuild (no log entry is written for it). A ringing or talking
        agent gets back the call it held (`call`, rebuilt from the decision log by the caller)."""
        agent = self._agent(agent_id)
        if agent.state is S.READY:
            self._leave_idle(agent)
        if state in (S.RINGING, S.TALKING) and call is None:  # a log row without its call: free the seat
            state = S.READY if state is S.RINGING else S.WRAP_UP
        agent.state, agent.since, agent.reason, agent.idle_since = state, since, reason, idle_since
        if state in (S.RINGING, S.TALKING) and call is not None:
            call.agent, agent.call = agent, call
            self.calls[call.id] = call
            if state is S.RINGING:
                heapq.heappush(self._ringing, (call.offered_at + self.ring_timeout, self._next(), call))
        elif state is S.WRAP_UP:
            agent.wrap_up_deadline = since + RESTORED_WRAP_UP_SECONDS
            heapq.heappush(self._wrap_ups, (agent.wrap_up_deadline, self._next(), agent))
        elif state is S.READY:
            self._enter_idle(agent)

    def restore_waiting(self, call: Call) -> None:
        """Put back a call the decision log shows waiting in its queue at a rebuild (no dispatch, no log entry)."""
        q = self.queues.get(call.queue_id) if call.queue_id else None
        self.calls[call.id] = call
        if q is not None:
            q.add(call)

    def interrupt(self, call_id: uuid.UUID, *, now: float) -> None:
        """End a call a previous owner left open; its media died with that owner's process, so nobody can answer or
        continue it. Waiting or ringing: logged `abandoned` with cause `interrupted`; the ringing agent is released
        by the ring rules as the ticker would have applied them (ring timeout passed: paused `ring_no_answer`, the
        seat was not answering; else ready with its old idle-since, as when a caller hangs up). Talking: the agent
        goes to wrap-up (reason `interrupted`; the only move the state table allows after talking) with the queue's
        wrap-up limit from now, so the disposition of a real conversation is still taken and the seat frees itself.
        No dispatch: at a rebuild every call is one of these."""
        call = self._call(call_id)
        agent = call.agent
        q = self.queues.get(call.queue_id) if call.queue_id else None
        del self.calls[call_id]
        if call.state is CallState.CONNECTED and agent is not None:
            call.state, agent.call, agent.last_queue_id = CallState.ENDED, None, call.queue_id
            # No handle time is noted: the cut conversation's length is unknown (it ended somewhere in the outage).
            agent.wrap_up_deadline = now + (q.config.wrap_up_seconds if q is not None else RESTORED_WRAP_UP_SECONDS)
            self._set_state(agent, S.WRAP_UP, now, reason=INTERRUPTED, call_id=call_id)
            heapq.heappush(self._wrap_ups, (agent.wrap_up_deadline, self._next(), agent))
            return
        if call.state is CallState.WAITING and q is not None:
            q.forget(call)
            q.note_abandon(now - call.queued_at)
        call.state = CallState.ENDED
        self._decide("abandoned", call, call.queue_id, agent.id if agent else None, now, target=INTERRUPTED)
        if agent is None:
            return
        call.agent, agent.call = None, None
        if now >= call.offered_at + self.ring_timeout:
            self._set_state(agent, S.PAUSED, now, reason=RING_NO_ANSWER, call_id=call_id)
        else:
            self._set_state(agent, S.READY, now, call_id=call_id, keep_idle_since=True)

    # --- calls -----------------------------------------------------------------------------------------------

    def enqueue(
        self,
        call_id: uuid.UUID,
        *,
        queue_id: uuid.UUID,
        priority: int = 0,
        skills: dict[str, int] | None = None,
        now: float,
    ) -> list[Offer]:
        """A caller enters a queue (priority: higher first, e.g. VIP from the IVR look-up). `skills` are the IVR
        flow's requirements for this caller (skill -> minimum proficiency), applied on top of the queue's."""
        if call_id in self.calls:
            raise Conflict("call is already routed")
        for skill, level in (skills or {}).items():
            if not 1 <= level <= 10:
                raise InvalidInput.one(f"skills.{skill}", "minimum proficiency must be 1..10")
        q = self._queue(queue_id)
        call = Call(id=call_id, queue_id=queue_id, priority=priority, arrived_at=now, queued_at=now, seq=self._next())
        call.skills = dict(skills or {})
        return self._place(call, q, now)

    def offer_to_agent(
        self, call_id: uuid.UUID, *, agent_id: uuid.UUID, queue_id: uuid.UUID, priority: int = 0, now: float
    ) -> list[Offer]:
        """A transfer to a named agent: the call rings at that agent only, who must be ready. Not answered or
        declined, it goes to the front of `queue_id`'s line, like any caller passed over by ring-no-answer."""
        if call_id in self.calls:
            raise Conflict("call is already routed")
        q = self._queue(queue_id)
        agent = self.agents.get(agent_id)
        if agent is None:
            raise NotFound("no such agent seat")
        if agent.state is not S.READY or agent.call is not None:
            raise Conflict("the agent is not ready for a call")
        call = Call(id=call_id, queue_id=q.id, priority=priority, arrived_at=now, queued_at=now, seq=self._next())
        self.calls[call_id] = call
        return [self._offer(call, agent, None, now, target="agent")]

    def _place(self, call: Call, q: RoutingQueue, now: float) -> list[Offer]:
        self.calls[call.id] = call
        limit = q.config.max_length
        if limit is not None and q.waiting >= limit and q.config.overflow is not OverflowKind.NONE:
            return self._overflow(call, q, now, cause="max_length")
        q.add(call)
        offers = self._dispatch_queue(q, now)
        if call.state is CallState.WAITING:  # a call offered at once is logged by its offer alone
            self._decide("queued", call, q.id, None, now)
        return offers

    def abandon(self, call_id: uuid.UUID, *, now: float) -> list[Offer]:
        """The caller hung up while waiting or ringing. Idempotent; a ringing agent is released at once."""
        call = self.calls.get(call_id)
        if call is None or call.state in (CallState.CONNECTED, CallState.ENDED):
            return []
        q = self.queues.get(call.queue_id) if call.queue_id else None
        del self.calls[call_id]
        agent = call.agent
        if call.state is CallState.WAITING and q is not None:
            q.forget(call)  # the line entry is now stale and skipped when it reaches the front
            q.note_abandon(now - call.queued_at)
        call.state = CallState.ENDED
        self._decide("abandoned", call, call.queue_id, agent.id if agent else None, now)
        if agent is None:
            return []
        call.agent, agent.call = None, None
        # Back to ready with its old idle-since: a call that vanished must not cost the agent its turn.
        self._set_state(agent, S.READY, now, call_id=call_id, keep_idle_since=True)
        return self._dispatch_agent(agent, now)

    def accept(self, call_id: uuid.UUID, *, now: float) -> None:
        """The agent answered the offered call."""
        call = self._call(call_id)
        if call.state is not CallState.OFFERED or call.agent is None:
            raise Conflict("the call is not ringing at an agent")
        call.state, call.answered_at = CallState.CONNECTED, now
        q = self.queues.get(call.queue_id) if call.queue_id else None
        if q is not None:
            q.note_answer(now - call.queued_at)
        self._decide("answered", call, call.queue_id, call.agent.id, now, wait=now - call.arrived_at)
        self._set_state(call.agent, S.TALKING, now, call_id=call_id)

    def ring_no_answer(self, call_id: uuid.UUID, *, now: float) -> list[Offer]:
        """The agent let it ring: the agent is paused and the caller goes back to the front of its priority."""
        call = self._call(call_id)
        agent = call.agent
        if call.state is not CallState.OFFERED or agent is None:
            raise Conflict("the call is not ringing at an agent")
        call.agent, agent.call = None, None
        self._set_state(agent, S.PAUSED, now, reason=RING_NO_ANSWER, call_id=call_id)
        if call.queue_id is None:  # an outbound call has no line to return to
            del self.calls[call_id]
            call.state = CallState.ENDED
            return []
        q = self.queues[call.queue_id]
        call.state = CallState.WAITING
        q.add(call, front=True)
        self._decide("requeued", call, q.id, agent.id, now)
        return self._dispatch_queue(q, now)

    def finish_call(self, call_id: uuid.UUID, *, now: float) -> None:
        """The connected call ended (either side hung up): the agent goes to wrap-up."""
        call = self._call(call_id)
        agent = call.agent
        if call.state is not CallState.CONNECTED or agent is None:
            raise Conflict("the call is not connected")
        del self.calls[call_id]
        call.state, agent.call = CallState.ENDED, None
        q = self.queues.get(call.queue_id) if call.queue_id else None
        agent.last_queue_id = call.queue_id
        if q is not None:
            q.note_handle_time(now - call.answered_at)
        agent.wrap_up_deadline = now + (q.config.wrap_up_seconds if q is not None else 0)
        self._set_state(agent, S.WRAP_UP, now, call_id=call_id)
        heapq.heappush(self._wrap_ups, (agent.wrap_up_deadline, next(self._seq), agent))

    def request_callback(self, call_id: uuid.UUID, *, number: str, now: float) -> None:
        """The caller leaves but keeps the place in line; the agent who gets it calls back."""
        call = self._call(call_id)
        if call.state is not CallState.WAITING:
            raise Conflict("only a waiting call can become a queued callback")
        call.callback_number = number
        self._decide("callback_requested", call, call.queue_id, None, now)

    def reserve_for_outbound(self, call_id: uuid.UUID, *, now: float) -> uuid.UUID | None:
        """Blended-mode hook for the dialer: reserve the longest-idle blended agent for an outbound call."""
        heap = self._blended_idle
        while heap:
            _, _, epoch, agent = heapq.heappop(heap)
            if epoch == agent.epoch and agent.state is S.READY:
                call = Call(id=call_id, queue_id=None, priority=0, arrived_at=now, queued_at=now, seq=self._next())
                self.calls[call_id] = call
                self._offer(call, agent, None, now)
                return agent.id
        return None

    def tick(self, *, now: float) -> list[Offer]:
        """Time-driven rules: overflow on max wait, ring timeout, forced end of wrap-up past its limit."""
        offers: list[Offer] = []
        for q in list(self.queues.values()):
            limit = q.config.max_wait_seconds
            if limit is None or not q.waiting or q.config.overflow is OverflowKind.NONE:
                continue
            expired = [
                c
                for c in q.calls_in_order()
                if not c.callback_number and c.overflow_hops <= MAX_OVERFLOW_HOPS and now - c.queued_at > limit
            ]
            for call in expired:
                call.state = CallState.ENDED  # this line entry is stale from now on
                q.forget(call)
                moved = Call(
                    id=call.id,
                    queue_id=call.queue_id,
                    priority=call.priority,
                    arrived_at=call.arrived_at,
                    queued_at=call.queued_at,
                    seq=call.seq,
                    overflow_hops=call.overflow_hops,
                    skills=call.skills,
                )
                self.calls[call.id] = moved
                offers += self._overflow(moved, q, now, cause="max_wait")
        while self._ringing and self._ringing[0][0] <= now:
            deadline, _, call = heapq.heappop(self._ringing)
            if call.state is CallState.OFFERED and call.offered_at + self.ring_timeout == deadline:
                offers += self.ring_no_answer(call.id, now=now)
        while self._wrap_ups and self._wrap_ups[0][0] <= now:
            deadline, _, agent = heapq.heappop(self._wrap_ups)
            if agent.state is S.WRAP_UP and agent.wrap_up_deadline == deadline:
                self._set_state(agent, S.READY, now, reason=WRAP_UP_TIMEOUT)
                offers += self._dispatch_agent(agent, now)
        return offers

    def _overflow(self, call: Call, q: RoutingQueue, now: float, *, cause: str) -> list[Offer]:
        config = q.config
        nxt = None
        if config.overflow is OverflowKind.QUEUE:
            nxt = self.queues.get(config.overflow_queue_id) if config.overflow_queue_id else None
            if nxt is None or call.overflow_hops >= MAX_OVERFLOW_HOPS:
                # Queues that overflow into each other must not bounce a caller forever: it stays where it is.
                call.overflow_hops = MAX_OVERFLOW_HOPS + 1
                q.add(call)
                self._decide("queued", call, q.id, None, now)
                return self._dispatch_queue(q, now)
        target = f"queue:{nxt.id}" if nxt is not None else config.overflow.value
        q.overflowed += 1
        self._decide("overflowed", call, q.id, None, now, target=f"{target} ({cause})")
        if nxt is not None:
            call.queue_id, call.queued_at, call.overflow_hops = nxt.id, now, call.overflow_hops + 1
            return self._place(call, nxt, now)
        # Voicemail and callback leave the live queue; telephony takes the caller there.
        del self.calls[call.id]
        call.state = CallState.ENDED
        return []

    # --- matching --------------------------------------------------------------------------------------------

    def _dispatch_queue(self, q: RoutingQueue, now: float) -> list[Offer]:
        offers: list[Offer] = []
        while q.waiting:
            if q.skilled_waiting:
                match = self._match_skilled(q)
                if match is None:
                    break
                call, agent = match
                q.remove(call)
            else:
                best = self._pick_agent(q)
                if best is None:
                    break
                call, agent = q.take_head(), best
            offers.append(self._offer(call, agent, q, now))
        return offers

    @staticmethod
    def _meets(agent: Agent, skills: dict[str, int]) -> bool:
        return all(agent.skills.get(s, 0) >= level for s, level in skills.items())

    def _match_skilled(self, q: RoutingQueue) -> tuple[Call, Agent] | None:
        """The first waiting call (priority, then arrival) that some idle agent can take, with the strategy's best
        such agent. A call whose own requirements no idle agent meets does not hold up the calls behind it."""
        idle = q.idle_in_order()
        if not idle:
            return None
        for call in q.calls_in_order():
            for agent in idle:
                if self._meets(agent, call.skills):
                    return call, agent
        return None

    def _dispatch_agent(self, agent: Agent, now: float) -> list[Offer]:
        if agent.state is not S.READY:
            return []
        best_q, best_call, best_key = None, None, None
        for qid in agent.queues:
            q = self.queues[qid]
            if q.skilled_waiting:
                call = next((c for c in q.calls_in_order() if self._meets(agent, c.skills)), None)
            else:
                call = q.head()
            if call is not None:
                key = (-q.config.priority, -call.priority, call.seq)
                if best_key is None or key < best_key:
                    best_q, best_call, best_key = q, call, key
        if best_q is None or best_call is None:
            return []
        if best_q.skilled_waiting:
            best_q.remove(best_call)
        else:
            best_q.take_head()
        return [self._offer(best_call, agent, best_q, now)]

    def _pick_agent(self, q: RoutingQueue) -> Agent | None:
        """The strategy's best idle agent for this queue (the naive baseline overrides this)."""
        return q.best_idle()
