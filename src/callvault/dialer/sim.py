"""Discrete-event simulation of one campaign shift: agents, dials, live answers, grace time and abandons.

The simulator owns the truth (which calls a person answered, which were abandoned); the policy only gets
observations and the outcome events a real telephony engine would report.
"""

from __future__ import annotations

import heapq
import math
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from callvault.dialer.compliance import AbandonLedger
from callvault.dialer.models import (
    AgentStates,
    CallHandled,
    DialOutcome,
    DialResolved,
    LiveAnswerAbandoned,
    PacingObservation,
)
from callvault.dialer.policies import PacingPolicy
from callvault.dialer.scenarios import HOUR_S, CallStreams, Scenario, dial_outcome, handling_time

_RESOLVE, _HANDLE_END, _GRACE_END, _DECIDE, _BREAK, _RETURN = range(6)
BREAK_EVERY_S = 2 * HOUR_S
BREAK_LENGTH_S = 15 * 60.0
BREAK_SHARE = 0.30


@dataclass(slots=True)
class ShiftResult:
    """Measured figures of one shift (after warm-up)."""

    occupancy: float = 0.0
    abandon_rate: float = 0.0
    live_answers: int = 0
    abandons: int = 0
    dials: int = 0
    connects: int = 0
    agent_hours: float = 0.0
    peak_outstanding_per_agent: float = 0.0
    decisions: int = 0
    decide_cpu_s: float = 0.0
    decide_p99_ms: float = 0.0
    events: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    minute_busy_s: list[float] = field(default_factory=list)
    minute_login_s: list[float] = field(default_factory=list)
    minute_live: list[int] = field(default_factory=list)
    minute_abandons: list[int] = field(default_factory=list)


class ShiftSimulator:
    """Runs one policy through one shift of a scenario with the given seed."""

    def __init__(
        self,
        scenario: Scenario,
        policy: PacingPolicy,
        *,
        seed: int,
        ledger: AbandonLedger | None = None,
        start_s: float = 0.0,
        decision_interval_s: float = 0.0,
        tick_s: float = 5.0,
        time_decisions: bool = True,
    ) -> None:
        self.sc = scenario
        self.policy = policy
        self.ledger = ledger if ledger is not None else AbandonLedger()
        self.streams = CallStreams(seed)
        self.start_s = start_s
        self.decision_interval_s = decision_interval_s
        self.tick_s = tick_s
        self.time_decisions = time_decisions

    def run(self) -> ShiftResult:
        sc, policy, ledger, streams = self.sc, self.policy, self.ledger, self.streams
        t0 = self.start_s
        measure_from = t0 + sc.warmup
        end = measure_from + sc.shift_s
        grace = sc.grace_s
        res = ShiftResult()
        heap: list[tuple[float, int, int, int, float]] = []
        seq = 0
        idle: deque[int] = deque(range(sc.agents))
        idle_since = dict.fromkeys(range(sc.agents), t0)
        busy: dict[int, float] = {}
        on_break: set[int] = set()
        break_pending: set[int] = set()
        ringing: dict[int, float] = {}
        truly_live: dict[int, bool] = {}
        pending: dict[int, DialOutcome] = {}
        queue: dict[int, float] = {}
        dial_seq = 0
        busy_int = login_int = 0.0
        last_t = t0
        last_decide = -math.inf
        decide_pending = False
        latencies: list[int] = []
        minutes = int(sc.shift_s // 60) + 1
        m_busy = [0.0] * minutes
        m_login = [0.0] * minutes
        m_live = [0] * minutes
        m_ab = [0] * minutes
        logged_in = sc.agents
        wall0 = time.perf_counter()
        cpu0 = time.process_time()

        def connect(agent: int, now: float) -> None:
            nonlocal seq
            busy[agent] = now
            h = handling_time(sc, now - t0, streams.call())
            seq += 1
            heapq.heappush(heap, (now + h, seq, _HANDLE_END, agent, h))
            if now >= measure_from:
                res.connects += 1

        def abandon(now: float) -> None:
            ledger.record_abandon(now)
            policy.record(LiveAnswerAbandoned(now))
            if now >= measure_from:
                res.abandons += 1
                m_ab[min(minutes - 1, int((now - measure_from) // 60))] += 1

        heapq.heappush(heap, (t0, 0, _DECIDE, 0, 0.0))
        if sc.family == "D":
            k = 1
            while t0 + k * BREAK_EVERY_S < end:
                seq += 1
                heapq.heappush(heap, (t0 + k * BREAK_EVERY_S, seq, _BREAK, 0, 0.0))
                k += 1
        decisive = self.decision_interval_s
        while heap:
            now, _, kind, ref, val = heapq.heappop(heap)
            if now >= end:
                now = end
            dt = now - last_t
            if dt > 0:
                b = len(busy)
                if now > measure_from:
                    lo = last_t if last_t > measure_from else measure_from
                    span = now - lo
                    busy_int += b * span
                    login_int += logged_in * span
                    mi = min(minutes - 1, int((lo - measure_from) // 60))
                    m_busy[mi] += b * span
                    m_login[mi] += logged_in * span
                last_t = now
            if now >= end:
                break
            res.events += 1
            if kind == _RESOLVE:
                start = ringing.pop(ref)
                live = truly_live.pop(ref)
                outcome_v = pending.pop(ref)
                policy.record(DialResolved(now, now - start, outcome_v))
                if outcome_v is DialOutcome.LIVE:
                    ledger.record_live_answer(now)
                    if now >= measure_from:
                        res.live_answers += 1
                        m_live[min(minutes - 1, int((now - measure_from) // 60))] += 1
                    if idle:
                        agent = idle.popleft()
                        connect(agent, now)
                    elif grace > 0:
                        queue[ref] = now
                        seq += 1
                        heapq.heappush(heap, (now + grace, seq, _GRACE_END, ref, 0.0))
                    else:
                        abandon(now)
                elif live:  # a person answered but the machine detector dropped the call
                    ledger.record_amd_false_positive(now)
                    if now >= measure_from:
                        res.live_answers += 1
                        res.abandons += 1
                        mi = min(minutes - 1, int((now - measure_from) // 60))
                        m_live[mi] += 1
                        m_ab[mi] += 1
            elif kind == _HANDLE_END:
                del busy[ref]
                policy.record(CallHandled(now, val))
                if ref in break_pending:
                    break_pending.discard(ref)
                    on_break.add(ref)
                    logged_in -= 1
                    seq += 1
                    heapq.heappush(heap, (now + BREAK_LENGTH_S, seq, _RETURN, ref, 0.0))
                elif queue:
                    qref = next(iter(queue))
                    del queue[qref]
                    connect(ref, now)
                else:
                    idle.append(ref)
                    idle_since[ref] = now
            elif kind == _GRACE_END:
                if ref in queue:
                    del queue[ref]
                    abandon(now)
            elif kind == _BREAK:
                for agent in range(int(BREAK_SHARE * sc.agents)):
                    if agent in busy:
                        break_pending.add(agent)
                    elif agent in idle:
                        idle.remove(agent)
                        on_break.add(agent)
                        logged_in -= 1
                        seq += 1
                        heapq.heappush(heap, (now + BREAK_LENGTH_S, seq, _RETURN, agent, 0.0))
            elif kind == _RETURN:
                on_break.discard(ref)
                logged_in += 1
                if queue:
                    qref = next(iter(queue))
                    del queue[qref]
                    connect(ref, now)
                else:
                    idle.append(ref)
                    idle_since[ref] = now
            elif kind == _DECIDE:
                decide_pending = False
                if ref == 0:  # the periodic tick keeps time-aware policies going when nothing happens
                    seq += 1
                    heapq.heappush(heap, (now + self.tick_s, seq, _DECIDE, 0, 0.0))
            # Decide after the state change, no more often than the decision interval.
            # A scheduled decision always runs (re-checking the interval could loop on float rounding).
            if decisive > 0 and kind != _DECIDE and now - last_decide < decisive:
                if not decide_pending:
                    decide_pending = True
                    seq += 1
                    heapq.heappush(heap, (last_decide + decisive, seq, _DECIDE, 1, 0.0))
                continue
            last_decide = now
            obs = PacingObservation(
                now_s=now - t0,
                agents=AgentStates(
                    idle_elapsed_s=now - np.fromiter((idle_since[a] for a in idle), np.float64, len(idle)),
                    busy_elapsed_s=now - np.fromiter(busy.values(), np.float64, len(busy)),
                ),
                ringing_elapsed_s=now - np.fromiter(ringing.values(), np.float64, len(ringing)),
                queued_wait_s=now - np.fromiter(queue.values(), np.float64, len(queue)),
            )
            if self.time_decisions:
                c0 = time.thread_time_ns()
                n = policy.decide(obs)
                latencies.append(time.thread_time_ns() - c0)
            else:
                n = policy.decide(obs)
            res.decisions += 1
            for _ in range(max(0, n)):
                outcome_v, ring, person = dial_outcome(sc, now - t0, streams.dial())
                dial_seq += 1
                ringing[dial_seq] = now
                truly_live[dial_seq] = person
                pending[dial_seq] = outcome_v
                seq += 1
                heapq.heappush(heap, (now + ring, seq, _RESOLVE, dial_seq, 0.0))
            if n > 0:
                if now >= measure_from:
                    res.dials += n
                if logged_in > 0:
                    res.peak_outstanding_per_agent = max(res.peak_outstanding_per_agent, len(ringing) / logged_in)
        res.wall_s = time.perf_counter() - wall0
        res.cpu_s = time.process_time() - cpu0
        res.occupancy = busy_int / login_int if login_int > 0 else 0.0
        res.abandon_rate = res.abandons / res.live_answers if res.live_answers else 0.0
        res.agent_hours = login_int / HOUR_S
        if latencies:
            arr = np.asarray(latencies, dtype=np.float64)
            res.decide_cpu_s = float(arr.sum()) / 1e9
            res.decide_p99_ms = float(np.percentile(arr, 99)) / 1e6
        res.minute_busy_s, res.minute_login_s, res.minute_live, res.minute_abandons = (
            m_busy,
            m_login,
            m_live,
            m_ab,
        )
        return res
