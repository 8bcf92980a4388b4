"""CallVault's predictive pacing: dial while the next dial's predicted chance of being abandoned stays small.

For each candidate dial the policy predicts, from the campaign's own estimated model, whether an agent will be
free
when that dial is answered: live answers expected from the dials already ringing (using each dial's elapsed
ring
time), answered calls already waiting, and agents expected to finish (using each agent's time on the call).
The
policy places the largest number of dials whose marginal abandon probability is at most a threshold. That is
the
Lagrangian condition of the constrained problem (dial while occupancy gained outweighs lambda x abandons
risked),
and it produces the same "more dials when fewer agents are busy" threshold table as the exact optimum. The
threshold is steered so that predicted abandons, corrected by the measured/predicted ratio, meet the target.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from callvault.dialer.estimation import GRID_S, ContactRateEstimate, DurationEstimate, lognormal_cdf
from callvault.dialer.models import (
    CallHandled,
    DialOutcome,
    DialResolved,
    LiveAnswerAbandoned,
    PacingEvent,
    PacingObservation,
)
from callvault.dialer.policies import DEFAULT_LIMITS, DialLimits, bounded_dials

_SQRT2 = math.sqrt(2.0)
_RING_STEP_S = 0.5
_RING_ROWS = 600  # 300 s of ring time
_BUSY_ROWS = 600


@dataclass(frozen=True, slots=True)
class PredictiveConfig:
    """Tuning of the predictive policy. Priors only matter for a campaign without history."""

    target_abandon_rate: float = 0.026  # below the 3 % cap: the margin absorbs day-to-day noise
    grace_s: float = 2.0
    prior_contact_rate: float = 0.3  # a high prior is the cautious one: it dials less
    prior_live_ring_s: float = 12.0
    prior_failure_s: float = 20.0
    prior_handling_s: float = 180.0
    prior_weight: float = 20.0
    memory_dials: float = 1500.0
    memory_calls: float = 400.0
    quadrature_points: int = 5
    adjust_every_s: float = 5.0
    refresh_s: float = 10.0
    idle_weight: float = 0.0
    later_dials_weight: float = 1.0
    calibration_memory_s: float = 1_800.0
    initial_threshold: float = 0.01
    gain: float = 0.03
    limits: DialLimits = field(default_factory=lambda: DEFAULT_LIMITS)


class CallVaultPolicy:
    """Predictive pacing from an online model of the campaign (see module docstring)."""

    name = "callvault"

    def __init__(self, config: PredictiveConfig | None = None) -> None:
        cfg = config or PredictiveConfig()
        self.config = cfg
        self.target_abandon_rate = cfg.target_abandon_rate
        self.threshold = cfg.initial_threshold
        self.contact = ContactRateEstimate(
            prior_rate=cfg.prior_contact_rate, prior_weight=cfg.prior_weight, memory=cfg.memory_dials
        )
        self.live_ring = DurationEstimate(
            lognormal_cdf(GRID_S, cfg.prior_live_ring_s, 0.5),
            prior_weight=cfg.prior_weight,
            memory=cfg.memory_calls,
        )
        self.failure_ring = DurationEstimate(
            lognormal_cdf(GRID_S, cfg.prior_failure_s, 0.5),
            prior_weight=cfg.prior_weight,
            memory=cfg.memory_dials,
        )
        self.handling = DurationEstimate(
            lognormal_cdf(GRID_S, cfg.prior_handling_s, 0.8),
            prior_weight=cfg.prior_weight,
            memory=cfg.memory_calls,
        )
        k = max(1, cfg.quadrature_points)
        self._probs = (np.arange(k, dtype=np.float64) + 0.5) / k
        self._last_adjust_s: float | None = None
        self._tables_at: float | None = None
        self._busy_step_s = 1.0
        self._p = cfg.prior_contact_rate
        self._new_live: list[float] = []
        self._later_live: list[float] = [0.0] * k
        self._dial_rate = 0.0
        self._resolved_recent = 0.0
        self._ring_mean = self._ring_var = self._busy_mean = self._busy_var = np.zeros((1, k))
        # Predicted and measured abandons: short memory steers, long memory calibrates the prediction.
        self._pred_ab_recent = 0.0
        self._pred_live_recent = 0.0
        self._pred_ab_long = 0.0
        self._meas_ab_long = 0.0

    # --- history -------------------------------------------------------------------------------------------
    def record(self, event: PacingEvent) -> None:
        if isinstance(event, DialResolved):
            self._resolved_recent += 1.0
            live = event.outcome is DialOutcome.LIVE
            self.contact.add(live=live)
            (self.live_ring if live else self.failure_ring).add(event.ring_s)
        elif isinstance(event, CallHandled):
            self.handling.add(event.handling_s)
        elif isinstance(event, LiveAnswerAbandoned):
            self._meas_ab_long += 1.0
        # The model is refreshed on the history path, so a pacing decision only reads lookup tables.
        if self._tables_at is None or not 0.0 <= event.at_s - self._tables_at < self.config.refresh_s:
            self._refresh_tables(event.at_s)

    def pace_to(self, target_abandon_rate: float) -> None:
        """Follow a tighter target (set by the compliance layer when a window runs hot)."""
        self.target_abandon_rate = max(1e-4, target_abandon_rate)

    # --- steering ------------------------------------------------------------------------------------------
    def _adjust(self, now_s: float) -> None:
        cfg = self.config
        if self._last_adjust_s is None or now_s < self._last_adjust_s:
            self._last_adjust_s = now_s  # first decision, or the clock went backwards
            return
        dt = now_s - self._last_adjust_s
        if dt < cfg.adjust_every_s:
            return
        self._last_adjust_s = now_s
        target = self.target_abandon_rate
        bias = (self._meas_ab_long + 3.0) / (self._pred_ab_long + 3.0)
        if self._pred_live_recent > 1e-9:
            estimated = bias * self._pred_ab_recent / self._pred_live_recent
            error = max(-1.0, min(1.0, (target - estimated) / target))
            self.threshold *= math.exp(cfg.gain * error)
            self.threshold = min(0.6, max(1e-4, self.threshold))
        # Resolutions per second estimate the dial rate in steady state (whoever placed the dials).
        w = math.exp(-dt / 120.0)
        self._dial_rate = w * self._dial_rate + (1.0 - w) * self._resolved_recent / dt
        self._resolved_recent = 0.0
        recent = math.exp(-dt / 300.0)
        self._pred_ab_recent *= recent
        self._pred_live_recent *= recent
        long = math.exp(-dt / self.config.calibration_memory_s)
        self._pred_ab_long *= long
        self._meas_ab_long *= long

    # --- decision ------------------------------------------------------------------------------------------
    def _refresh_tables(self, now_s: float) -> None:
        """Recompute per-elapsed-time lookup tables from the current estimates."""
        self._tables_at = now_s
        p = self.contact.rate
        g = self.config.grace_s
        t = self.live_ring.quantiles(self._probs)
        # Ringing dials: chance each answers live before the new dial does, by elapsed ring time.
        e = e_ring = np.arange(_RING_ROWS, dtype=np.float64) * _RING_STEP_S
        fl_e = fl_ring = self.live_ring.cdf(e)
        surv = p * (1.0 - fl_e) + (1.0 - p) * (1.0 - self.failure_ring.cdf(e))
        fl_et = self.live_ring.cdf(e[:, None] + t[None, :])
        live = np.clip(p * (fl_et - fl_e[:, None]) / np.maximum(surv, 1e-9)[:, None], 0.0, 1.0)
        self._ring_mean, self._ring_var = live, live * (1.0 - live)
        # Busy agents: chance each finishes before the new dial's answer plus the grace time, by time on call.
        mean_h = self.handling.mean_s(self.config.prior_handling_s)
        self._busy_step_s = max(0.25, 8.0 * mean_h / _BUSY_ROWS)
        e = np.arange(_BUSY_ROWS, dtype=np.float64) * self._busy_step_s
        h_e = self.handling.cdf(e)
        tail = 1.0 - h_e
        h_et = self.handling.cdf(e[:, None] + (t + g)[None, :])
        fallback = 1.0 - np.exp(-(t + g) / max(mean_h, 1e-3))  # beyond the observed tail: memoryless guess
        done = np.where(
            tail[:, None] > 1e-6, (h_et - h_e[:, None]) / np.maximum(tail, 1e-6)[:, None], fallback[None, :]
        )
        done = np.clip(done, 0.0, 1.0)
        self._busy_mean, self._busy_var = done, done * (1.0 - done)
        self._new_live = (p * self.live_ring.cdf(t)).tolist()
        # Dials placed later can still be answered first (short rings): expected live answers per
        # dial/s of rate.
        area = np.cumsum(fl_ring) * _RING_STEP_S
        self._later_live = (p * np.interp(t, e_ring, area)).tolist()
        self._p = p

    def abandon_curve(self, obs: PacingObservation) -> tuple[list[float], list[float], list[float], float]:
        """Per quadrature point: mean and variance of demand minus supply ahead of one new dial's
        answer, and the
        share of other new dials answering before it."""
        if self._tables_at is None:
            self._refresh_tables(obs.now_s)
        k = self._probs.size
        mu = np.full(k, float(obs.queued))
        var = np.zeros(k)
        ringing = obs.ringing_elapsed_s
        if ringing.size:
            idx = np.minimum((ringing * (1.0 / _RING_STEP_S)).astype(np.intp), _RING_ROWS - 1)
            counts = np.bincount(np.maximum(idx, 0), minlength=_RING_ROWS).astype(np.float64)
            mu += counts @ self._ring_mean
            var += counts @ self._ring_var
        busy = obs.agents.busy_elapsed_s
        if busy.size:
            idx = np.minimum((busy * (1.0 / self._busy_step_s)).astype(np.intp), _BUSY_ROWS - 1)
            counts = np.bincount(np.maximum(idx, 0), minlength=_BUSY_ROWS).astype(np.float64)
            mu -= counts @ self._busy_mean
            var += counts @ self._busy_var
        later = [self.config.later_dials_weight * self._dial_rate * x for x in self._later_live]
        mu_l = [m + x for m, x in zip(mu.tolist(), later, strict=True)]
        var_l = [v + x for v, x in zip(var.tolist(), later, strict=True)]  # Poisson: variance = mean
        return mu_l, var_l, self._new_live, self._p

    @staticmethod
    def _abandon_probability(n: int, free: int, mu: list[float], var: list[float], m0: list[float]) -> float:
        """Chance that the n-th new dial, if answered live, finds no agent (normal approximation)."""
        total = 0.0
        for mu_k, var_k, m_k in zip(mu, var, m0, strict=True):
            mean = mu_k + (n - 1) * m_k
            sd = math.sqrt(var_k + (n - 1) * m_k * (1.0 - m_k) + 1e-12)
            z = (free - 0.5 - mean) / sd
            total += 0.5 * math.erfc(z / _SQRT2)
        return total / len(mu)

    def decide(self, obs: PacingObservation) -> int:
        self._adjust(obs.now_s)
        n_max = bounded_dials(1e9, obs, self.config.limits)
        if n_max == 0:
            return 0
        mu, var, m0, p = self.abandon_curve(obs)
        free = obs.agents.idle
        # Never pace below progressive: a dial for an agent who is idle anyway costs no abandon risk
        # of its own.
        floor = min(n_max, max(0, free - obs.outstanding - obs.queued))
        # Idle agents make a connect worth more, so accept more risk then (the Lagrangian trade-off).
        theta = self.threshold * (1.0 + self.config.idle_weight * free / max(1, obs.agents.logged_in))
        first = self._abandon_probability(floor + 1, free, mu, var, m0)
        if floor >= n_max or first > theta:
            return floor
        lo, hi = floor + 1, n_max  # invariant: dial lo is acceptable
        if self._abandon_probability(hi, free, mu, var, m0) <= theta:
            lo = hi
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self._abandon_probability(mid, free, mu, var, m0) <= theta:
                lo = mid
            else:
                hi = mid
        last = self._abandon_probability(lo, free, mu, var, m0)
        extra = lo - floor
        predicted = extra * p * (first + last) / 2.0
        self._pred_ab_recent += predicted
        self._pred_ab_long += predicted
        self._pred_live_recent += lo * p
        return lo
