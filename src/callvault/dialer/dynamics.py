"""Family D recovery figures: how fast abandon rate and occupancy settle after the contact rate steps and
agents leave for breaks."""

from __future__ import annotations

import statistics

from callvault.dialer.bench import make_policy
from callvault.dialer.compliance import AbandonLedger
from callvault.dialer.scenarios import HOUR_S, Scenario
from callvault.dialer.sim import ShiftResult, ShiftSimulator

CHANGES_H = (2.0, 4.0, 5.0, 6.0)  # p steps at 2 h and 5 h; breaks start at 2 h, 4 h and 6 h
_CAP = 0.03


def _rolling(values: list[float], i: int, width: int) -> float:
    return sum(values[max(0, i - width + 1) : i + 1])


def recovery_minutes(res: ShiftResult, change_min: int, next_min: int) -> tuple[float, float]:
    """(minutes until the rolling 15-min abandon rate is back under 3 % for good, minutes until the rolling
    10-min occupancy stays within 0.03 of its settled value), both measured from the change."""
    live, ab = res.minute_live, res.minute_abandons
    busy, login = res.minute_busy_s, res.minute_login_s
    end = min(next_min, len(live))
    last_over = change_min - 1
    for i in range(change_min, end):
        lv = _rolling([float(x) for x in live], i, 15)
        if lv > 0 and _rolling([float(x) for x in ab], i, 15) / lv > _CAP:
            last_over = i
    occ = [_rolling(busy, i, 10) / max(_rolling(login, i, 10), 1e-9) for i in range(len(busy))]
    settled_from = min(end - 1, change_min + 40)
    settled = statistics.fmean(occ[settled_from:end]) if end > settled_from else occ[end - 1]
    last_off = change_min - 1
    for i in range(change_min, end):
        if abs(occ[i] - settled) > 0.03:
            last_off = i
    return float(last_over + 1 - change_min), float(last_off + 1 - change_min)


def dynamics_report(policies: list[str], seeds: int, *, agents: int = 50) -> list[dict[str, object]]:
    """Per policy and change time: worst abandon and occupancy recovery over seeds, plus day figures."""
    sc = Scenario("D", agents, 0.30, 180.0)
    rows: list[dict[str, object]] = []
    for name in policies:
        runs = []
        for seed in range(seeds):
            ledger = AbandonLedger()
            policy = make_policy(name, sc, ledger)
            runs.append(ShiftSimulator(sc, policy, seed=seed, ledger=ledger, decision_interval_s=0.25).run())
        for k, change_h in enumerate(CHANGES_H):
            start = int(change_h * HOUR_S // 60)
            nxt = int(CHANGES_H[k + 1] * HOUR_S // 60) if k + 1 < len(CHANGES_H) else int(sc.shift_s // 60)
            rec = [recovery_minutes(r, start, nxt) for r in runs]
            rows.append(
                {
                    "policy": name,
                    "change_at_h": change_h,
                    "abandon_recovery_min_worst": max(a for a, _ in rec),
                    "occupancy_recovery_min_worst": max(o for _, o in rec),
                    "day_occupancy": statistics.fmean(r.occupancy for r in runs),
                    "day_abandon_rate": statistics.fmean(r.abandon_rate for r in runs),
                }
            )
    return rows


def compliance_days(
    policy_name: str, *, agents: int, days: int = 30, seed: int = 0, hours: float = 8.0
) -> dict[str, object]:
    """Family C: consecutive 8-h days for one campaign (history and ledger carry over from day to day).

    Returns each day's abandon rate, the worst rolling 24-h rate seen at any hour, and the 30-day rate.
    """
    sc = Scenario("C", agents, 0.2, 180.0, hours=hours, warmup_s=0.0)
    ledger = AbandonLedger()
    policy = make_policy(policy_name, sc, ledger)
    day_rates: list[float] = []
    worst_24h = 0.0
    for day in range(days):
        start = day * 86_400.0
        res = ShiftSimulator(
            sc, policy, seed=seed * 1_000 + day, ledger=ledger, start_s=start, decision_interval_s=0.25
        ).run()
        day_rates.append(res.abandon_rate)
        for hour in range(1, int(sc.shift_s // HOUR_S) + 1):
            w = ledger.window("rolling_24h", start + hour * HOUR_S)
            if w.live >= 1:
                worst_24h = max(worst_24h, w.rate)
    month = ledger.window("rolling_30d", days * 86_400.0)
    return {
        "policy": policy_name,
        "agents": agents,
        "day_abandon_rates": day_rates,
        "days_over_cap": sum(r > _CAP for r in day_rates),
        "worst_rolling_24h": worst_24h,
        "rate_30d": month.rate,
    }
