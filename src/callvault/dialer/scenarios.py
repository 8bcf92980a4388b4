"""Benchmark scenario families M (Markov), R (realistic), D (dynamics) and C (compliance days), and the random
streams that give every policy the same calls (common random numbers)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from callvault.dialer.models import DialOutcome

HOUR_S = 3_600.0
_BATCH = 4_096


@dataclass(frozen=True, slots=True)
class Scenario:
    """One benchmark cell. Durations in seconds."""

    family: str  # "M", "R", "D" or "C"
    agents: int
    p_live: float
    aht_s: float
    dial_resolution_s: float = 15.0  # family M: mean time until a dial resolves
    hours: float | None = None  # measured shift length; family default when None
    warmup_s: float | None = None

    @property
    def shift_s(self) -> float:
        default = {"M": 6.0, "R": 4.0, "D": 8.0, "C": 8.0}[self.family]
        return (self.hours if self.hours is not None else default) * HOUR_S

    @property
    def warmup(self) -> float:
        if self.warmup_s is not None:
            return self.warmup_s
        return 1_800.0 if self.family in ("M", "R") else 0.0

    @property
    def grace_s(self) -> float:
        return 0.0 if self.family == "M" else 2.0

    def p_at(self, t_s: float) -> float:
        """Contact rate at campaign time t (family D steps 0.30 -> 0.15 at 2 h and back at 5 h)."""
        if self.family == "D":
            return 0.15 if 2 * HOUR_S <= t_s < 5 * HOUR_S else 0.30
        return self.p_live

    def aht_at(self, t_s: float) -> float:
        """Mean handling time at campaign time t (family D drifts 180 -> 240 s over the shift)."""
        if self.family == "D":
            return self.aht_s + 60.0 * min(1.0, max(0.0, t_s / self.shift_s))
        return self.aht_s


def lognormal_params(mean: float, cv: float) -> tuple[float, float]:
    """(mu, sigma) of the underlying normal for a lognormal with the given mean and CV."""
    sigma = math.sqrt(math.log1p(cv * cv))
    return math.log(max(mean, 1e-9)) - sigma * sigma / 2, sigma


_RING_MU, _RING_SIGMA = lognormal_params(12.0, 0.5)
AMD_DETECTION_S = 3.5
AMD_MACHINE_SHARE = 0.20
AMD_FALSE_POSITIVE = 0.03


class CallStreams:
    """Per-dial and per-call random numbers drawn in batches from two independent streams.

    The k-th dial and the k-th connected call get the same numbers whatever the policy, so policies are
    compared
    on the same arrivals and outcomes.
    """

    def __init__(self, seed: int) -> None:
        self._dials = np.random.default_rng([seed, 1])
        self._calls = np.random.default_rng([seed, 2])
        self._d: list[tuple[float, float, float, float]] = []
        self._c: list[tuple[float, float]] = []
        self._di = 0
        self._ci = 0

    def dial(self) -> tuple[float, float, float, float]:
        """(uniform for live, uniform for kind, standard normal, unit exponential)."""
        if self._di >= len(self._d):
            r = self._dials
            cols = (
                r.random(_BATCH),
                r.random(_BATCH),
                r.standard_normal(_BATCH),
                r.standard_exponential(_BATCH),
            )
            self._d = list(zip(*(c.tolist() for c in cols), strict=True))
            self._di = 0
        v = self._d[self._di]
        self._di += 1
        return v

    def call(self) -> tuple[float, float]:
        """(standard normal, unit exponential) for one handling time."""
        if self._ci >= len(self._c):
            r = self._calls
            self._c = list(
                zip(r.standard_normal(_BATCH).tolist(), r.standard_exponential(_BATCH).tolist(), strict=True)
            )
            self._ci = 0
        v = self._c[self._ci]
        self._ci += 1
        return v


def dial_outcome(sc: Scenario, t_s: float, u: tuple[float, float, float, float]) -> tuple[DialOutcome, float, bool]:
    """(outcome the dialer sees, seconds until it resolves, whether a person actually answered)."""
    u_live, u_kind, z, x = u
    p = sc.p_at(t_s)
    if sc.family == "M":
        return (
            (DialOutcome.LIVE if u_live < p else DialOutcome.NO_ANSWER),
            sc.dial_resolution_s * x,
            u_live < p,
        )
    ring = math.exp(_RING_MU + _RING_SIGMA * z)
    if u_live < p:
        if sc.family == "D" and u_kind < AMD_FALSE_POSITIVE:
            return DialOutcome.MACHINE, ring + AMD_DETECTION_S, True  # dropped by the detector
        return DialOutcome.LIVE, ring, True
    if sc.family == "D" and u_live < p + AMD_MACHINE_SHARE:
        return DialOutcome.MACHINE, ring + AMD_DETECTION_S, False
    if u_kind < 0.7:
        return DialOutcome.NO_ANSWER, 25.0, False
    return DialOutcome.FAILED, 5.0, False


def handling_time(sc: Scenario, t_s: float, u: tuple[float, float]) -> float:
    """Talk plus wrap-up time of one connected call."""
    z, x = u
    aht = sc.aht_at(t_s)
    if sc.family == "M":
        return aht * x
    mu, sigma = lognormal_params(aht, 0.8)
    return math.exp(mu + sigma * z)
