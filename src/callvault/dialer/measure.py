"""Cost measurements: wall and CPU time of one pacing decision at scale, and simulator throughput."""

from __future__ import annotations

import time

import numpy as np

from callvault.dialer.compliance import AbandonLedger, CompliancePacing
from callvault.dialer.models import PacingEvent, PacingObservation
from callvault.dialer.policies import PacingPolicy, ProgressivePolicy
from callvault.dialer.predictive import CallVaultPolicy, PredictiveConfig
from callvault.dialer.scenarios import Scenario
from callvault.dialer.sim import ShiftSimulator


class _TimedPolicy:
    """Times every decision of the wrapped policy in wall-clock and thread CPU nanoseconds."""

    def __init__(self, inner: PacingPolicy) -> None:
        self.inner = inner
        self.name = inner.name
        self.wall_ns: list[int] = []
        self.cpu_ns: list[int] = []
        self.sizes: list[int] = []

    def record(self, event: PacingEvent) -> None:
        self.inner.record(event)

    def decide(self, obs: PacingObservation) -> int:
        w0, c0 = time.perf_counter_ns(), time.thread_time_ns()
        n = self.inner.decide(obs)
        self.cpu_ns.append(time.thread_time_ns() - c0)
        self.wall_ns.append(time.perf_counter_ns() - w0)
        self.sizes.append(obs.agents.logged_in + obs.outstanding)
        return n


def decision_latency(agents: int = 500, hours: float = 1.0, seed: int = 0) -> dict[str, float]:
    """Percentiles of one `callvault` decision (compliance layer included) during a family-R shift."""
    sc = Scenario("R", agents, 0.2, 180.0, hours=hours)
    ledger = AbandonLedger()
    timed = _TimedPolicy(CompliancePacing(CallVaultPolicy(PredictiveConfig(grace_s=sc.grace_s)), ledger))
    ShiftSimulator(sc, timed, seed=seed, ledger=ledger, decision_interval_s=0.25, time_decisions=False).run()
    wall = np.asarray(timed.wall_ns, dtype=np.float64) / 1e6
    cpu = np.asarray(timed.cpu_ns, dtype=np.float64) / 1e6
    return {
        "agents": float(agents),
        "decisions": float(wall.size),
        "mean_agents_plus_ringing": float(np.mean(timed.sizes)),
        "wall_p50_ms": float(np.percentile(wall, 50)),
        "wall_p99_ms": float(np.percentile(wall, 99)),
        "wall_max_ms": float(wall.max()),
        "cpu_p50_ms": float(np.percentile(cpu, 50)),
        "cpu_p99_ms": float(np.percentile(cpu, 99)),
    }


def engine_throughput(hours: float = 6.0, seed: int = 0) -> dict[str, float]:
    """Events per CPU second (and per wall second) of the simulator with the cheapest policy: progressive,
    family M, N=50, p=0.1, AHT=60, deciding after every event and on a 1-s tick."""
    out: dict[str, float] = {}
    sc = Scenario("M", 50, 0.1, 60.0, hours=hours)
    for label, interval in (("every_event", 0.0), ("tick_1s", 1.0)):
        res = ShiftSimulator(
            sc, ProgressivePolicy(), seed=seed, decision_interval_s=interval, time_decisions=False
        ).run()
        out[f"{label}_events"] = float(res.events)
        out[f"{label}_events_per_cpu_s"] = res.events / res.cpu_s
        out[f"{label}_events_per_wall_s"] = res.events / res.wall_s
    return out
