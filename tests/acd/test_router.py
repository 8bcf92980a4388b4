"""Routing owner: strategies, priorities, overflow, wrap-up, announcements, blended hook, callbacks."""

from __future__ import annotations

import uuid

import pytest

from callvault.acd import announcements
from callvault.acd.agent_state import RING_NO_ANSWER, WRAP_UP_TIMEOUT, AgentState, IllegalTransition
from callvault.acd.router import Router
from callvault.acd.routing_queue import OverflowKind, QueueConfig, Strategy
from callvault.core.errors import Conflict, InvalidInput

S = AgentState


def ids(n: int, base: int) -> list[uuid.UUID]:
    return [uuid.UUID(int=base + i) for i in range(n)]


def floor(strategy: Strategy = Strategy.LONGEST_IDLE, **queue: object) -> tuple[Router, QueueConfig, list[uuid.UUID]]:
    router = Router(pause_reasons=frozenset({"lunch"}))
    config = QueueConfig(id=uuid.UUID(int=1), name="cards", requirements={"cards": 2}, strategy=strategy, **queue)  # type: ignore[arg-type]
    router.upsert_queue(config, now=0)
    agents = ids(3, 100)
    for i, aid in enumerate(agents):
        router.upsert_agent(aid, skills={"cards": 2 + 3 * i}, blended=False, now=0)  # levels 2, 5, 8
    return router, config, agents


def test_longest_idle_agent_gets_the_call() -> None:
    router, q, (a, b, c) = floor()
    router.agent_ready(b, now=1)
    router.agent_ready(c, now=2)
    router.agent_ready(a, now=3)
    offers = router.enqueue(uuid.uuid4(), queue_id=q.id, now=10)
    assert [o.agent_id for o in offers] == [b]


def test_most_skilled_agent_gets_the_call() -> None:
    router, q, (a, b, c) = floor(Strategy.MOST_SKILLED)
    for t, aid in enumerate((c, a, b)):
        router.agent_ready(aid, now=t)
    assert router.enqueue(uuid.uuid4(), queue_id=q.id, now=10)[0].agent_id == c
    assert router.enqueue(uuid.uuid4(), queue_id=q.id, now=11)[0].agent_id == b


def test_round_robin_rotates_through_agents() -> None:
    router, q, agents = floor(Strategy.ROUND_ROBIN)
    for aid in agents:
        router.agent_ready(aid, now=0)
    served = []
    for t in range(6):
        offer = router.enqueue(uuid.UUID(int=500 + t), queue_id=q.id, now=t + 1)[0]
        router.accept(offer.call_id, now=t + 1)
        router.finish_call(offer.call_id, now=t + 1)
        router.end_wrap_up(offer.agent_id, disposition="ok", now=t + 1)
        served.append(offer.agent_id)
    assert set(served[:3]) == set(agents) and served[3:] == served[:3]


def test_skills_below_the_minimum_never_get_the_call() -> None:
    router, _, (a, b, _) = floor()
    strict = QueueConfig(id=uuid.UUID(int=2), name="premium", requirements={"cards": 6})
    router.upsert_queue(strict, now=0)
    router.agent_ready(a, now=0)
    router.agent_ready(b, now=0)
    cid = uuid.uuid4()
    assert router.enqueue(cid, queue_id=strict.id, now=1) == []
    router.upsert_agent(b, skills={"cards": 6}, blended=False, now=2)  # trained up: takes the waiting call
    assert router.calls[cid].agent is not None and router.calls[cid].agent.id == b  # type: ignore[union-attr]


def test_vip_goes_first_and_fifo_holds_within_a_priority() -> None:
    router, q, (a, _, _) = floor()
    first, second, vip = uuid.UUID(int=1001), uuid.UUID(int=1002), uuid.UUID(int=1003)
    for t, (cid, priority) in enumerate(((first, 0), (second, 0), (vip, 5))):
        router.enqueue(cid, queue_id=q.id, priority=priority, now=t)
    assert [announcements.position(router, call_id=c) for c in (vip, first, second)] == [1, 2, 3]
    order = []
    router.agent_ready(a, now=10)
    for t in range(3):
        (cid,) = [c.id for c in router.calls.values() if c.agent is not None]
        order.append(cid)
        router.accept(cid, now=11 + t)
        router.finish_call(cid, now=11 + t)
        router.end_wrap_up(a, disposition="", now=11 + t)
    assert order == [vip, first, second]


def test_ring_no_answer_pauses_the_agent_and_puts_the_caller_back_in_front() -> None:
    router, q, (a, b, _) = floor()
    router.agent_ready(a, now=0)
    early, late = uuid.UUID(int=1), uuid.UUID(int=2)
    router.enqueue(early, queue_id=q.id, now=1)
    router.enqueue(late, queue_id=q.id, now=2)
    assert router.ring_no_answer(early, now=20) == []
    assert router.agents[a].state is S.PAUSED and router.agents[a].reason == RING_NO_ANSWER
    assert announcements.position(router, call_id=early) == 1
    assert router.agent_ready(b, now=21)[0].call_id == early


def test_abandon_while_ringing_releases_the_agent_at_once_and_keeps_its_turn() -> None:
    router, q, (a, b, _) = floor()
    router.agent_ready(a, now=0)
    router.agent_ready(b, now=5)
    gone = uuid.uuid4()
    assert router.enqueue(gone, queue_id=q.id, now=6)[0].agent_id == a
    assert router.abandon(gone, now=7) == []
    assert router.agents[a].state is S.READY and router.agents[a].call is None
    assert router.enqueue(uuid.uuid4(), queue_id=q.id, now=8)[0].agent_id == a  # still the longest idle
    assert router.abandon(gone, now=9) == []  # a second hang-up signal changes nothing
    with pytest.raises(Exception, match="no such call"):
        router.accept(gone, now=9)


def test_abandoned_waiting_call_is_never_offered() -> None:
    router, q, (a, _, _) = floor()
    gone, stays = uuid.UUID(int=1), uuid.UUID(int=2)
    router.enqueue(gone, queue_id=q.id, now=1)
    router.enqueue(stays, queue_id=q.id, now=2)
    router.abandon(gone, now=3)
    assert [o.call_id for o in router.agent_ready(a, now=4)] == [stays]
    assert router.queues[q.id].abandoned == 1


def test_overflow_on_max_length_moves_to_the_other_queue() -> None:
    router, q, _ = floor()
    spill = QueueConfig(id=uuid.UUID(int=2), name="spill")
    router.upsert_queue(spill, now=0)
    full = QueueConfig(
        id=q.id,
        name="cards",
        requirements={"cards": 2},
        max_length=1,
        overflow=OverflowKind.QUEUE,
        overflow_queue_id=spill.id,
    )
    router.upsert_queue(full, now=0)
    router.enqueue(uuid.UUID(int=1), queue_id=q.id, now=1)
    router.enqueue(uuid.UUID(int=2), queue_id=q.id, now=2)
    assert router.calls[uuid.UUID(int=2)].queue_id == spill.id
    assert [d.kind for d in router.decisions][-2:] == ["overflowed", "queued"]


def test_overflow_on_max_wait_goes_to_voicemail_but_a_queued_callback_keeps_its_place() -> None:
    router, q, _ = floor(max_wait_seconds=60, overflow=OverflowKind.VOICEMAIL)
    waits, calls_back = uuid.UUID(int=1), uuid.UUID(int=2)
    router.enqueue(calls_back, queue_id=q.id, now=0)
    router.enqueue(waits, queue_id=q.id, now=1)
    router.request_callback(calls_back, number="+8613800000000", now=5)
    router.tick(now=30)
    assert waits in router.calls
    router.tick(now=62)
    assert waits not in router.calls
    assert announcements.position(router, call_id=calls_back) == 1
    assert router.decisions[-1].target == "voicemail (max_wait)"


def test_wrap_up_limit_forces_ready_and_a_required_disposition_is_enforced() -> None:
    router, q, (a, _, _) = floor(wrap_up_seconds=30, disposition_required=True)
    router.agent_ready(a, now=0)
    cid = uuid.uuid4()
    router.enqueue(cid, queue_id=q.id, now=1)
    router.accept(cid, now=2)
    router.finish_call(cid, now=100)
    with pytest.raises(InvalidInput):
        router.end_wrap_up(a, disposition="", now=110)
    with pytest.raises(Conflict):
        router.agent_ready(a, now=110)
    router.tick(now=129)
    assert router.agents[a].state is S.WRAP_UP
    router.tick(now=131)
    assert router.agents[a].state is S.READY and router.agents[a].reason == WRAP_UP_TIMEOUT


def test_pause_needs_a_known_reason_and_illegal_moves_are_refused() -> None:
    router, _, (a, _, _) = floor()
    with pytest.raises(InvalidInput):
        router.agent_pause(a, reason="coffee", now=1)
    router.agent_pause(a, reason="lunch", now=1)
    with pytest.raises(IllegalTransition):
        router.agent_pause(a, reason="lunch", now=2)


def test_estimated_wait_uses_handle_time_and_staffed_agents() -> None:
    router, q, (a, b, _) = floor(default_handle_seconds=120)
    router.agent_ready(a, now=0)
    router.agent_ready(b, now=0)
    for t in range(4):
        router.enqueue(uuid.UUID(int=10 + t), queue_id=q.id, now=t)
    # Two calls ringing at the two agents; the fourth caller is second in line: 2 * 120 s / 2 agents.
    assert announcements.position(router, call_id=uuid.UUID(int=13)) == 2
    assert announcements.estimated_wait(router, call_id=uuid.UUID(int=13)) == 120.0
    status = announcements.queue_status(router, queue_id=q.id, now=10)
    assert (status.waiting, status.staffed_agents, status.idle_agents) == (2, 2, 0)


def test_blended_agent_is_lent_to_the_dialer_only_when_ready() -> None:
    router, _, (a, b, _) = floor()
    router.upsert_agent(b, skills={"cards": 5}, blended=True, now=0)
    assert router.reserve_for_outbound(uuid.uuid4(), now=1) is None
    router.agent_ready(a, now=1)
    router.agent_ready(b, now=2)
    out = uuid.uuid4()
    assert router.reserve_for_outbound(out, now=3) == b
    assert router.reserve_for_outbound(uuid.uuid4(), now=3) is None  # b is busy, a is not blended
    router.ring_no_answer(out, now=20)
    assert out not in router.calls and router.agents[b].state is S.PAUSED


def test_an_offer_nobody_reports_on_times_out_as_ring_no_answer() -> None:
    router, q, (a, b, _) = floor()
    router.agent_ready(a, now=0)
    router.agent_ready(b, now=1)
    cid = uuid.uuid4()
    router.enqueue(cid, queue_id=q.id, now=2)
    assert router.tick(now=21) == []
    offers = router.tick(now=22)
    assert router.agents[a].state is S.PAUSED and router.agents[a].reason == RING_NO_ANSWER
    assert [(o.call_id, o.agent_id) for o in offers] == [(cid, b)]


def test_an_agent_holding_a_call_cannot_change_state_by_hand() -> None:
    """Ringing or talking, the agent answers or declines first: a pause while ringing would leave the offer on it."""
    router, q, (a, _, _) = floor()
    router.agent_ready(a, now=0)
    call = uuid.uuid4()
    router.enqueue(call, queue_id=q.id, now=1)
    assert router.agents[a].state is S.RINGING
    assert not any(router.can_change(a, target) for target in (S.READY, S.PAUSED, S.LOGGED_OUT))
    router.accept(call, now=2)
    assert not router.can_change(a, S.PAUSED)
    router.finish_call(call, now=3)
    assert not router.can_change(a, S.PAUSED)  # wrap-up
    router.end_wrap_up(a, now=4, disposition="done", then=S.READY)
    assert router.can_change(a, S.PAUSED)
