"""The IVR flow's skills reach routing: a call that needs a skill (e.g. Cantonese) is offered only to an agent who
has it, on top of the queue's own requirements, and never holds up the callers behind it."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from callvault.acd.agent_state import AgentState
from callvault.acd.router import Router
from callvault.acd.routing_queue import Agent, CallState, QueueConfig
from callvault.core.errors import InvalidInput
from callvault.ivr.handoff import hand_to_acd
from callvault.ivr.interpreter import CallContext, Outcome, OutcomeKind
from callvault.telephony import CallId

S = AgentState
CARDS = QueueConfig(id=uuid.UUID(int=1), name="cards", requirements={"cards": 2})
GENERAL = QueueConfig(id=uuid.UUID(int=2), name="general", priority=1)
LANGUAGES = ("yue", "en")


def meets(agent: Agent, needs: dict[str, int]) -> bool:
    return all(agent.skills.get(s, 0) >= level for s, level in needs.items())


def test_the_flows_skills_pick_the_agent_and_do_not_block_the_line() -> None:
    router = Router()
    router.upsert_queue(CARDS, now=0)
    mandarin, cantonese = uuid.uuid4(), uuid.uuid4()
    router.upsert_agent(mandarin, skills={"cards": 5}, blended=False, now=0)
    router.upsert_agent(cantonese, skills={"cards": 3, "yue": 4}, blended=False, now=0)
    ctx = CallContext(call_id=CallId("sim-1"), variables={})
    yue_call, plain = uuid.uuid4(), uuid.uuid4()
    hand_to_acd(
        router,
        Outcome(OutcomeKind.QUEUED, ctx, queue="cards", skills={"yue": 3}),
        queues={"cards": CARDS.id},
        call_id=yue_call,
        now=1,
    )
    router.enqueue(plain, queue_id=CARDS.id, now=2)
    # The Mandarin agent is longest idle but cannot take the first caller: it takes the one behind.
    assert router.agent_ready(mandarin, now=3) == [(plain, mandarin, CARDS.id)]
    assert router.calls[yue_call].state is CallState.WAITING
    assert router.agent_ready(cantonese, now=4) == [(yue_call, cantonese, CARDS.id)]
    with pytest.raises(InvalidInput):
        router.enqueue(uuid.uuid4(), queue_id=CARDS.id, skills={"yue": 11}, now=5)


class SkilledCalls(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.router = Router()
        self.now = 10.0
        self.needs: dict[uuid.UUID, dict[str, int]] = {}
        self.arrival: dict[uuid.UUID, int] = {}

    @initialize(
        staff=st.lists(
            st.dictionaries(st.sampled_from(("cards", *LANGUAGES)), st.integers(1, 5), max_size=3),
            min_size=1,
            max_size=5,
        )
    )
    def setup(self, staff: list[dict[str, int]]) -> None:
        for q in (CARDS, GENERAL):
            self.router.upsert_queue(q, now=self.now)
        for i, skills in enumerate(staff):
            self.router.upsert_agent(uuid.UUID(int=100 + i), skills=skills, blended=False, now=self.now)

    def _tick(self) -> float:
        self.now += 1
        return self.now

    @rule(
        general=st.booleans(),
        priority=st.sampled_from((0, 5)),
        needs=st.dictionaries(st.sampled_from(LANGUAGES), st.integers(1, 5), max_size=2),
    )
    def arrive(self, general: bool, priority: int, needs: dict[str, int]) -> None:
        call = uuid.UUID(int=10_000 + len(self.arrival))  # deterministic, so replays draw the same
        self.needs[call] = needs
        self.arrival[call] = len(self.arrival)
        queue = GENERAL if general else CARDS
        self.router.enqueue(call, queue_id=queue.id, priority=priority, skills=needs, now=self._tick())

    @rule(data=st.data())
    def agent_ready(self, data: st.DataObject) -> None:
        agents = [a for a in self.router.agents.values() if a.state in (S.LOGGED_OUT, S.PAUSED)]
        if agents:
            self.router.agent_ready(data.draw(st.sampled_from(agents)).id, now=self._tick())

    @rule(data=st.data())
    def pause(self, data: st.DataObject) -> None:
        agents = [a for a in self.router.agents.values() if a.state is S.READY]
        if agents:
            self.router.agent_pause(data.draw(st.sampled_from(agents)).id, reason="ring_no_answer", now=self._tick())

    @precondition(lambda self: any(c.state is CallState.OFFERED for c in self.router.calls.values()))
    @rule(data=st.data(), answer=st.booleans())
    def answer_and_hang_up(self, data: st.DataObject, answer: bool) -> None:
        offered = sorted((c.id for c in self.router.calls.values() if c.state is CallState.OFFERED), key=str)
        call = data.draw(st.sampled_from(offered))
        if not answer:
            self.router.ring_no_answer(call, now=self._tick())
            return
        agent = self.router.calls[call].agent
        assert agent is not None
        self.router.accept(call, now=self._tick())
        self.router.finish_call(call, now=self._tick())
        self.router.end_wrap_up(agent.id, disposition="done", now=self._tick())

    @rule(data=st.data())
    def hang_up(self, data: st.DataObject) -> None:
        live = sorted(self.router.calls, key=str)
        if live:
            self.router.abandon(data.draw(st.sampled_from(live)), now=self._tick())

    @invariant()
    def offered_only_to_agents_with_every_skill(self) -> None:
        for call in self.router.calls.values():
            if call.agent is not None and call.queue_id is not None:
                config = self.router.queues[call.queue_id].config
                assert meets(call.agent, config.requirements) and meets(call.agent, self.needs[call.id])

    @invariant()
    def no_ready_agent_while_a_caller_it_could_take_waits(self) -> None:
        for q in self.router.queues.values():
            for call in q.calls_in_order():
                for agent in q.eligible:
                    assert not (agent.state is S.READY and meets(agent, call.skills)), "idle agent left a caller"

    @invariant()
    def counters_match_the_lines(self) -> None:
        for q in self.router.queues.values():
            waiting = list(q.calls_in_order())
            assert q.waiting == len(waiting)
            assert q.skilled_waiting == sum(1 for c in waiting if c.skills)


TestSkilledCalls = SkilledCalls.TestCase
TestSkilledCalls.settings = settings(
    max_examples=60, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
