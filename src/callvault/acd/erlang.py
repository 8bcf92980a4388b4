"""Erlang C, and a discrete-event day of Poisson arrivals driving the real router to check it against.

With Poisson arrivals, exponential handling times, N agents and one FIFO queue without abandonment, the
fraction of callers answered within T seconds is  SL = 1 - C(N, A) * exp(-(N - A) * T / AHT), where A = λ·AHT is
the offered traffic in erlangs and C(N, A) the Erlang C probability of waiting.
"""

from __future__ import annotations

import heapq
import math
import random
import uuid
from dataclasses import dataclass

from callvault.acd.router import Offer, Router
from callvault.acd.routing_queue import QueueConfig


def erlang_c(agents: int, traffic: float) -> float:
    """Probability that a caller waits (Erlang C), through the numerically stable Erlang B recursion."""
    if traffic <= 0:
        return 0.0
    if traffic >= agents:
        return 1.0
    blocking = 1.0
    for k in range(1, agents + 1):
        blocking = traffic * blocking / (k + traffic * blocking)
    return agents * blocking / (agents - traffic * (1 - blocking))


def erlang_c_service_level(*, agents: int, arrival_rate: float, mean_handle: float, target: float) -> float:
    """Expected fraction answered within `target` seconds."""
    traffic = arrival_rate * mean_handle
    if traffic >= agents:
        return 0.0
    return 1 - erlang_c(agents, traffic) * math.exp(-(agents - traffic) * target / mean_handle)


@dataclass(frozen=True)
class DayResult:
    agents: int
    traffic_erlangs: float
    calls: int
    measured_sl: float
    erlang_c_sl: float
    mean_wait: float

    @property
    def difference_points(self) -> float:
        return 100 * (self.measured_sl - self.erlang_c_sl)


def simulate_day(
    *,
    agents: int,
    arrival_rate: float,
    mean_handle: float,
    target: float = 20.0,
    hours: float = 24.0,
    warm_up_hours: float = 0.5,
    seed: int = 1,
) -> DayResult:
    """Run one queue through a day of Poisson arrivals on the real router (accept at once, no wrap-up)."""
    rng = random.Random(seed)  # noqa: S311 -- simulated traffic
    router = Router()
    queue = QueueConfig(id=uuid.UUID(int=1), name="day", wrap_up_seconds=0, service_level_seconds=int(target))
    router.upsert_queue(queue, now=0.0)
    for i in range(agents):
        router.upsert_agent(uuid.UUID(int=1000 + i), skills={}, blended=False, now=0.0)
        router.agent_ready(uuid.UUID(int=1000 + i), now=0.0)
    end, warm_up = hours * 3600, warm_up_hours * 3600
    arrived: dict[uuid.UUID, float] = {}
    events: list[tuple[float, int, uuid.UUID]] = []  # completions: (time, tiebreak, call)
    answered = within = 0
    total_wait = 0.0
    tiebreak = 0

    def connect(offers: list[Offer], now: float) -> None:
        nonlocal answered, within, total_wait, tiebreak
        for offer in offers:
            router.accept(offer.call_id, now=now)
            wait = now - arrived.pop(offer.call_id)
            if now - wait >= warm_up:
                answered += 1
                within += wait <= target
                total_wait += wait
            tiebreak += 1
            heapq.heappush(events, (now + rng.expovariate(1 / mean_handle), tiebreak, offer.call_id))

    next_arrival = rng.expovariate(arrival_rate)
    n = 0
    while next_arrival < end or events:
        if events and (events[0][0] <= next_arrival or next_arrival >= end):
            now, _, call_id = heapq.heappop(events)
            agent_id = router.calls[call_id].agent.id  # type: ignore[union-attr]
            router.finish_call(call_id, now=now)
            connect(router.end_wrap_up(agent_id, disposition="", now=now), now)
        else:
            now = next_arrival
            n += 1
            call_id = uuid.UUID(int=10**9 + n)
            arrived[call_id] = now
            connect(router.enqueue(call_id, queue_id=queue.id, now=now), now)
            next_arrival = now + rng.expovariate(arrival_rate)
        if len(router.decisions) > 10_000:  # nobody writes them here; keep memory flat
            router.decisions.clear()
            router.state_changes.clear()
    return DayResult(
        agents=agents,
        traffic_erlangs=arrival_rate * mean_handle,
        calls=answered,
        measured_sl=within / answered if answered else 0.0,
        erlang_c_sl=erlang_c_service_level(
            agents=agents, arrival_rate=arrival_rate, mean_handle=mean_handle, target=target
        ),
        mean_wait=total_wait / answered if answered else 0.0,
    )
