"""Online estimates of a campaign's contact rate and duration distributions, learned from its own outcomes.

Every estimate starts from a weak prior (a cold campaign has no history) and forgets old outcomes
geometrically,
so a campaign whose contact rate or handling time drifts is followed within a few hundred outcomes.
"""

from __future__ import annotations

import math

import numpy as np

from callvault.dialer.models import FloatArray

# Durations live on a log grid from 0.1 s to ~28 h: fine where rings and short calls resolve, coarse in the
# tail.
_GRID_POINTS = 320
_LOG_LO = math.log1p(0.1)
_LOG_HI = math.log1p(100_000.0)
_LOG_STEP = (_LOG_HI - _LOG_LO) / (_GRID_POINTS - 1)
_LOG_GRID: FloatArray = np.linspace(_LOG_LO, _LOG_HI, _GRID_POINTS)
GRID_S: FloatArray = np.expm1(_LOG_GRID)


def lognormal_cdf(x: FloatArray, mean_s: float, cv: float) -> FloatArray:
    """CDF of a lognormal with the given mean and coefficient of variation (used for priors)."""
    sigma2 = math.log1p(cv * cv)
    mu = math.log(max(mean_s, 1e-6)) - sigma2 / 2
    z = (np.log(np.maximum(x, 1e-12)) - mu) / math.sqrt(2 * sigma2)
    erf = np.fromiter((math.erf(v) for v in z.ravel()), np.float64, z.size).reshape(z.shape)
    return np.asarray(0.5 * (1.0 + erf), dtype=np.float64)


class DurationEstimate:
    """A histogram estimate of a duration distribution with a prior and geometric forgetting."""

    def __init__(self, prior_cdf: FloatArray, *, prior_weight: float, memory: float) -> None:
        pmf = np.diff(np.concatenate(([0.0], prior_cdf)))
        pmf[-1] += max(0.0, 1.0 - float(prior_cdf[-1]))
        self._mass: FloatArray = np.maximum(pmf, 0.0) * prior_weight
        self._keep = 1.0 - 1.0 / max(memory, 1.0)
        self._cdf: FloatArray = np.zeros(_GRID_POINTS)
        self._sum_s = 0.0
        self._weight = 0.0
        self._dirty = True

    def add(self, duration_s: float) -> None:
        """Learn one observed duration; negative or non-finite values are ignored."""
        if not math.isfinite(duration_s) or duration_s < 0:
            return
        idx = math.ceil((math.log1p(duration_s) - _LOG_LO) / _LOG_STEP)
        idx = min(max(idx, 0), _GRID_POINTS - 1)
        self._mass *= self._keep
        self._mass[idx] += 1.0
        self._sum_s = self._sum_s * self._keep + duration_s
        self._weight = self._weight * self._keep + 1.0
        self._dirty = True

    @property
    def cdf_grid(self) -> FloatArray:
        """CDF at the points of `GRID_S`."""
        if self._dirty:
            c = np.cumsum(self._mass)
            self._cdf = c / c[-1]
            self._dirty = False
        return self._cdf

    def cdf(self, x: FloatArray) -> FloatArray:
        """CDF at arbitrary durations (vectorised)."""
        return np.interp(np.log1p(np.maximum(x, 0.0)), _LOG_GRID, self.cdf_grid, left=0.0, right=1.0)

    def quantiles(self, probs: FloatArray) -> FloatArray:
        """Durations at the given probabilities."""
        return np.asarray(np.expm1(np.interp(probs, self.cdf_grid, _LOG_GRID)), dtype=np.float64)

    def mean_s(self, fallback_s: float) -> float:
        """Mean of observed durations, or the fallback before anything was observed."""
        return self._sum_s / self._weight if self._weight > 0.5 else fallback_s


class ContactRateEstimate:
    """Share of dials that reach a live person, as a Beta estimate with forgetting."""

    def __init__(self, *, prior_rate: float, prior_weight: float, memory: float) -> None:
        self._live = prior_rate * prior_weight
        self._total = prior_weight
        self._keep = 1.0 - 1.0 / max(memory, 1.0)

    def add(self, *, live: bool) -> None:
        self._live = self._live * self._keep + (1.0 if live else 0.0)
        self._total = self._total * self._keep + 1.0

    @property
    def rate(self) -> float:
        return min(1.0, max(1e-4, self._live / self._total))
