"""Benchmark runner: every scenario x policy x seed on the same random numbers, summarised with 95 %
intervals."""

from __future__ import annotations

import csv
import math
import statistics
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from callvault.dialer.compliance import AbandonLedger, CompliancePacing
from callvault.dialer.policies import FixedRatioPolicy, PacingPolicy, ProgressivePolicy, VicidialStylePolicy
from callvault.dialer.predictive import CallVaultPolicy, PredictiveConfig
from callvault.dialer.scenarios import Scenario
from callvault.dialer.sim import ShiftSimulator

# Two-sided 97.5 % Student t quantiles by degrees of freedom (1..30); normal beyond.
_T975 = (
    *(12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145),
    *(2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048),
    *(2.045, 2.042),
)
POLICY_NAMES = ("progressive", "vicidial", "callvault")
METRICS = (
    "occupancy",
    "abandon_rate",
    "live_answers_per_agent_hour",
    "dials_per_agent_hour",
    "connects_per_agent_hour",
    "peak_outstanding_per_agent",
    "decisions_per_cpu_s",
    "cpu_s_per_agent_hour",
    "decide_p99_ms",
    "events_per_s",
)


def load_scenarios(path: Path, *, hours: float | None = None, warmup_s: float | None = None) -> list[Scenario]:
    """Read a scenario CSV with columns family,agents,p_live,aht_s[,dial_resolution_s]."""
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    out = []
    for row in rows:
        family = row["family"].strip().upper()
        if family not in ("M", "R", "D", "C"):
            raise ValueError(f"unknown scenario family {family!r} in {path}")
        out.append(
            Scenario(
                family=family,
                agents=int(row["agents"]),
                p_live=float(row["p_live"]),
                aht_s=float(row["aht_s"]),
                dial_resolution_s=float(row.get("dial_resolution_s") or 15.0),
                hours=hours,
                warmup_s=warmup_s,
            )
        )
    return out


def make_policy(name: str, scenario: Scenario, ledger: AbandonLedger) -> PacingPolicy:
    """Build a policy by benchmark name; `callvault` is the production set-up (compliance brake included)."""
    if name == "progressive":
        return ProgressivePolicy()
    if name == "vicidial":
        return VicidialStylePolicy()
    if name == "callvault":
        return CompliancePacing(CallVaultPolicy(PredictiveConfig(grace_s=scenario.grace_s)), ledger)
    if name.startswith("ratio-"):
        return FixedRatioPolicy(float(name.removeprefix("ratio-")))
    raise ValueError(f"unknown policy {name!r}")


def decision_interval_s(scenario: Scenario) -> float:
    """Family M is the exact model (decide after every event); elsewhere pace on a 250 ms tick like a live
    dialer."""
    return 0.0 if scenario.family == "M" else 0.25


def run_one(job: tuple[Scenario, str, int]) -> dict[str, float]:
    """One shift of one policy on one seed; returns the per-run metrics."""
    scenario, policy_name, seed = job
    ledger = AbandonLedger()
    policy = make_policy(policy_name, scenario, ledger)
    res = ShiftSimulator(
        scenario, policy, seed=seed, ledger=ledger, decision_interval_s=decision_interval_s(scenario)
    ).run()
    hours = max(res.agent_hours, 1e-9)
    return {
        "occupancy": res.occupancy,
        "abandon_rate": res.abandon_rate,
        "live_answers": float(res.live_answers),
        "live_answers_per_agent_hour": res.live_answers / hours,
        "dials_per_agent_hour": res.dials / hours,
        "connects_per_agent_hour": res.connects / hours,
        "peak_outstanding_per_agent": res.peak_outstanding_per_agent,
        "decisions_per_cpu_s": res.decisions / res.decide_cpu_s if res.decide_cpu_s > 0 else 0.0,
        "cpu_s_per_agent_hour": res.cpu_s / hours,
        "decide_p99_ms": res.decide_p99_ms,
        "events_per_s": res.events / res.cpu_s if res.cpu_s > 0 else 0.0,
    }


def mean_ci95(values: Sequence[float]) -> tuple[float, float]:
    """Mean and half-width of the 95 % t interval."""
    n = len(values)
    mean = statistics.fmean(values)
    if n < 2:
        return mean, math.nan
    t = _T975[n - 2] if n - 1 <= len(_T975) else 1.96
    return mean, t * statistics.stdev(values) / math.sqrt(n)


@dataclass(frozen=True, slots=True)
class CellSummary:
    """One scenario x policy, averaged over seeds."""

    family: str
    agents: int
    p_live: float
    aht_s: float
    policy: str
    seeds: int
    occupancy: float
    occupancy_ci95: float
    abandon_rate: float
    abandon_rate_ci95: float
    live_answers: float
    live_answers_per_agent_hour: float
    dials_per_agent_hour: float
    connects_per_agent_hour: float
    peak_outstanding_per_agent: float
    decisions_per_cpu_s: float
    cpu_s_per_agent_hour: float
    decide_p99_ms: float
    events_per_s: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def summarise(scenario: Scenario, policy: str, runs: Sequence[dict[str, float]]) -> CellSummary:
    """Average one cell's runs; interval for occupancy and abandon rate, means for the rest."""
    occ, occ_ci = mean_ci95([r["occupancy"] for r in runs])
    ab, ab_ci = mean_ci95([r["abandon_rate"] for r in runs])

    def avg(key: str) -> float:
        return statistics.fmean(r[key] for r in runs)

    return CellSummary(
        family=scenario.family,
        agents=scenario.agents,
        p_live=scenario.p_live,
        aht_s=scenario.aht_s,
        policy=policy,
        seeds=len(runs),
        occupancy=occ,
        occupancy_ci95=occ_ci,
        abandon_rate=ab,
        abandon_rate_ci95=ab_ci,
        live_answers=avg("live_answers"),
        live_answers_per_agent_hour=avg("live_answers_per_agent_hour"),
        dials_per_agent_hour=avg("dials_per_agent_hour"),
        connects_per_agent_hour=avg("connects_per_agent_hour"),
        peak_outstanding_per_agent=max(r["peak_outstanding_per_agent"] for r in runs),
        decisions_per_cpu_s=avg("decisions_per_cpu_s"),
        cpu_s_per_agent_hour=avg("cpu_s_per_agent_hour"),
        decide_p99_ms=max(r["decide_p99_ms"] for r in runs),
        events_per_s=avg("events_per_s"),
    )


def run_bench(
    scenarios: Iterable[Scenario], policies: Sequence[str], seeds: int, *, workers: int = 1
) -> list[CellSummary]:
    """Run every scenario x policy x seed (seed i is the same calls for every policy) and summarise."""
    cells = [(sc, pol) for sc in scenarios for pol in policies]
    jobs = [(sc, pol, seed) for sc, pol in cells for seed in range(seeds)]
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(run_one, jobs, chunksize=1))
    else:
        results = [run_one(job) for job in jobs]
    return [summarise(sc, pol, results[i * seeds : (i + 1) * seeds]) for i, (sc, pol) in enumerate(cells)]


def load_optimum(path: Path) -> dict[tuple[int, float, float], float]:
    """Exact optimal occupancy per family-M cell, keyed by (agents, p_live, aht_s)."""
    with path.open(newline="", encoding="utf-8") as fh:
        return {
            (int(r["agents"]), float(r["p_live"]), float(r["aht_s"])): float(r["optimal_occupancy"])
            for r in csv.DictReader(fh)
        }


def load_reference(path: Path) -> dict[tuple[int, float, float], dict[str, float]]:
    """Reference figures per family-R cell, keyed by (agents, p_live, aht_s)."""
    with path.open(newline="", encoding="utf-8") as fh:
        return {
            (int(r["agents"]), float(r["p_live"]), float(r["aht_s"])): {
                k: float(v) for k, v in r.items() if k not in ("agents", "p_live", "aht_s")
            }
            for r in csv.DictReader(fh)
        }
