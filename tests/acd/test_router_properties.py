"""Random sequences of arrivals, hang-ups, answers, ring-no-answers and agent state changes keep the routing
invariants: no agent holds two calls, FIFO within priority and queue, no caller lost or duplicated, skills
respected, abandoned calls never offered, ring-no-answer puts the caller back in front, no idle agent while an
eligible caller waits."""

from __future__ import annotations

import uuid

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from callvault.acd.agent_state import AgentState
from callvault.acd.router import Offer, Router
from callvault.acd.routing_queue import CallState, OverflowKind, QueueConfig, Strategy

S = AgentState
SKILLS = ("cards", "loans", "fraud")
QUEUES = (
    QueueConfig(id=uuid.UUID(int=1), name="cards", requirements={"cards": 3}, strategy=Strategy.LONGEST_IDLE),
    QueueConfig(
        id=uuid.UUID(int=2),
        name="loans",
        requirements={"loans": 5, "cards": 1},
        strategy=Strategy.MOST_SKILLED,
        priority=2,
    ),
    QueueConfig(
        id=uuid.UUID(int=3),
        name="fraud",
        requirements={"fraud": 1},
        strategy=Strategy.ROUND_ROBIN,
        max_length=2,
        overflow=OverflowKind.VOICEMAIL,
    ),
    QueueConfig(id=uuid.UUID(int=4), name="general", strategy=Strategy.LONGEST_IDLE),
)
BY_ID = {q.id: q for q in QUEUES}
skill_sets = st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 10), max_size=3)


class RoutingMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.router = Router(pause_reasons=frozenset({"lunch"}))
        self.now = 1000.0
        self.lines: dict[tuple[uuid.UUID, int], list[uuid.UUID]] = {}
        self.offered: dict[uuid.UUID, uuid.UUID] = {}  # call -> agent
        self.connected: dict[uuid.UUID, uuid.UUID] = {}
        self.ended: set[uuid.UUID] = set()
        self.skills: dict[uuid.UUID, dict[str, int]] = {}
        self.n_calls = 0

    @initialize(agent_skills=st.lists(skill_sets, min_size=1, max_size=6))
    def staff(self, agent_skills: list[dict[str, int]]) -> None:
        for q in QUEUES:
            self.router.upsert_queue(q, now=self.now)
        for i, skills in enumerate(agent_skills):
            aid = uuid.UUID(int=100 + i)
            self.skills[aid] = skills
            self.router.upsert_agent(aid, skills=skills, blended=False, now=self.now)

    # --- helpers ---------------------------------------------------------------------------------------------

    def _tick(self) -> float:
        self.now += 1.0
        return self.now

    def _took(self, offers: list[Offer]) -> None:
        for offer in offers:
            assert offer.call_id not in self.ended, "a call that hung up was offered"
            assert offer.agent_id not in self.offered.values(), "agent offered two calls"
            assert offer.agent_id not in self.connected.values(), "agent offered a call while talking"
            assert offer.queue_id is not None
            call = self.router.calls[offer.call_id]
            line = self.lines[(offer.queue_id, call.priority)]
            assert line and line[0] == offer.call_id, "not first in line within its priority"
            for (qid, priority), other in self.lines.items():
                if qid == offer.queue_id and priority > call.priority:
                    assert not other, "a higher-priority caller of the same queue was passed over"
            line.pop(0)
            requirements = BY_ID[offer.queue_id].requirements
            skills = self.skills[offer.agent_id]
            assert all(skills.get(s, 0) >= lv for s, lv in requirements.items()), "skills not respected"
            self.offered[offer.call_id] = offer.agent_id

    def _agents_in(self, *states: AgentState) -> list[uuid.UUID]:
        return sorted(a.id for a in self.router.agents.values() if a.state in states)

    # --- rules -----------------------------------------------------------------------------------------------

    @rule(queue=st.sampled_from(QUEUES), vip=st.booleans())
    def arrive(self, queue: QueueConfig, vip: bool) -> None:
        self.n_calls += 1
        cid = uuid.UUID(int=10_000 + self.n_calls)
        priority = 5 if vip else 0
        full = (
            queue.max_length is not None
            and sum(len(line) for (qid, _), line in self.lines.items() if qid == queue.id) >= queue.max_length
        )
        self.lines.setdefault((queue.id, priority), []).append(cid)
        offers = self.router.enqueue(cid, queue_id=queue.id, priority=priority, now=self._tick())
        if full:
            assert not offers and cid not in self.router.calls, "a full queue must overflow"
            self.lines[(queue.id, priority)].remove(cid)
            self.ended.add(cid)
            return
        self._took(offers)

    @rule(data=st.data())
    def hang_up(self, data: st.DataObject) -> None:
        live = sorted(c for line in self.lines.values() for c in line) + sorted(self.offered)
        if not live:
            return
        cid = data.draw(st.sampled_from(live))
        for line in self.lines.values():
            if cid in line:
                line.remove(cid)
        agent = self.offered.pop(cid, None)
        offers = self.router.abandon(cid, now=self._tick())
        self.ended.add(cid)
        if agent is not None:
            assert self.router.agents[agent].state in (S.READY, S.RINGING), "agent stuck after the caller left"
        self._took(offers)

    @rule(data=st.data())
    def answer(self, data: st.DataObject) -> None:
        if self.offered:
            cid = data.draw(st.sampled_from(sorted(self.offered)))
            self.router.accept(cid, now=self._tick())
            self.connected[cid] = self.offered.pop(cid)

    @rule(data=st.data())
    def ring_no_answer(self, data: st.DataObject) -> None:
        if not self.offered:
            return
        cid = data.draw(st.sampled_from(sorted(self.offered)))
        agent = self.offered.pop(cid)
        call = self.router.calls[cid]
        assert call.queue_id is not None
        self.lines.setdefault((call.queue_id, call.priority), []).insert(0, cid)
        offers = self.router.ring_no_answer(cid, now=self._tick())
        assert self.router.agents[agent].state is S.PAUSED
        assert all(o.agent_id != agent for o in offers)
        if cid not in {o.call_id for o in offers}:
            ahead = sum(
                len(line) for (qid, p), line in self.lines.items() if qid == call.queue_id and p > call.priority
            )
            position = self.router.queues[call.queue_id].position(call)
            assert position == ahead + 1, "re-queued caller is not first of its priority"
        self._took(offers)

    @rule(data=st.data())
    def hang_up_connected(self, data: st.DataObject) -> None:
        if self.connected:
            cid = data.draw(st.sampled_from(sorted(self.connected)))
            agent = self.connected.pop(cid)
            self.router.finish_call(cid, now=self._tick())
            self.ended.add(cid)
            assert self.router.agents[agent].state is S.WRAP_UP

    @rule(data=st.data(), then=st.sampled_from([S.READY, S.PAUSED, S.LOGGED_OUT]))
    def end_wrap_up(self, data: st.DataObject, then: AgentState) -> None:
        agents = self._agents_in(S.WRAP_UP)
        if agents:
            aid = data.draw(st.sampled_from(agents))
            reason = "lunch" if then is S.PAUSED else ""
            self._took(self.router.end_wrap_up(aid, disposition="done", now=self._tick(), then=then, reason=reason))

    @rule(data=st.data())
    def go_ready(self, data: st.DataObject) -> None:
        agents = self._agents_in(S.LOGGED_OUT, S.PAUSED)
        if agents:
            self._took(self.router.agent_ready(data.draw(st.sampled_from(agents)), now=self._tick()))

    @rule(data=st.data(), logout=st.booleans())
    def go_away(self, data: st.DataObject, logout: bool) -> None:
        agents = self._agents_in(S.READY)
        if agents:
            aid = data.draw(st.sampled_from(agents))
            if logout:
                self.router.agent_logout(aid, now=self._tick())
            else:
                self.router.agent_pause(aid, reason="lunch", now=self._tick())

    @precondition(lambda self: bool(self.skills))
    @rule(data=st.data(), skills=skill_sets)
    def retrain(self, data: st.DataObject, skills: dict[str, int]) -> None:
        aid = data.draw(st.sampled_from(sorted(self.skills)))
        self.skills[aid] = skills
        self._took(self.router.upsert_agent(aid, skills=skills, blended=False, now=self._tick()))

    # --- invariants ------------------------------------------------------------------------------------------

    @invariant()
    def one_call_per_agent(self) -> None:
        holders = [c.agent.id for c in self.router.calls.values() if c.agent is not None]
        assert len(holders) == len(set(holders))
        for agent in self.router.agents.values():
            busy = agent.state in (S.RINGING, S.TALKING)
            assert (agent.call is not None) == busy
            if agent.call is not None:
                assert agent.call.agent is agent

    @invariant()
    def no_caller_lost_or_duplicated(self) -> None:
        waiting = [c for line in self.lines.values() for c in line]
        assert len(waiting) == len(set(waiting))
        expected = set(waiting) | set(self.offered) | set(self.connected)
        assert set(self.router.calls) == expected
        assert not expected & self.ended
        for cid in waiting:
            assert self.router.calls[cid].state is CallState.WAITING
        for q in self.router.queues.values():
            assert q.waiting == sum(len(line) for (qid, _), line in self.lines.items() if qid == q.id)
            assert [c.id for c in q.calls_in_order()] == [
                c
                for p in sorted({p for (qid, p) in self.lines if qid == q.id}, reverse=True)
                for c in self.lines[(q.id, p)]
            ]

    @invariant()
    def no_idle_agent_while_an_eligible_caller_waits(self) -> None:
        for q in self.router.queues.values():
            ready = [a for a in q.eligible if a.state is S.READY]
            assert q.idle_count == len(ready)
            if q.waiting:
                assert not ready, f"{q.config.name}: idle agent while a caller waits"


RoutingMachine.TestCase.settings = settings(
    max_examples=120, stateful_step_count=35, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestRouting = RoutingMachine.TestCase
