"""The pacing policy interface, dial limits, and the reference policies (progressive, fixed ratio,
VICIdial-style)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from callvault.dialer.models import (
    CallHandled,
    DialOutcome,
    DialResolved,
    LiveAnswerAbandoned,
    PacingEvent,
    PacingObservation,
)


@runtime_checkable
class PacingPolicy(Protocol):
    """Answers "dial n numbers now" from an observation; learns only from the campaign's outcome events."""

    name: str

    def record(self, event: PacingEvent) -> None:
        """Feed one outcome from the campaign history (dial resolved, call handled, live answer abandoned)."""
        ...

    def decide(self, obs: PacingObservation) -> int:
        """How many new dials to place now (never negative)."""
        ...


@dataclass(frozen=True, slots=True)
class DialLimits:
    """Hard bounds that hold whatever a policy asks for, so bad input can never cause a dial storm."""

    max_outstanding_per_agent: float = 10.0
    max_new_per_decision_per_agent: float = 5.0


DEFAULT_LIMITS = DialLimits()


def bounded_dials(n: float, obs: PacingObservation, limits: DialLimits = DEFAULT_LIMITS) -> int:
    """Clamp a requested dial count to what the agents, the trunk and the limits allow."""
    agents = obs.agents.logged_in
    if agents <= 0 or not math.isfinite(n) or n <= 0:
        return 0
    room = int(limits.max_outstanding_per_agent * agents) - obs.outstanding
    burst = max(1, int(limits.max_new_per_decision_per_agent * agents))
    allowed = min(int(n), room, burst)
    if obs.free_trunk_lines is not None:
        allowed = min(allowed, obs.free_trunk_lines)
    return max(0, allowed)


class ProgressivePolicy:
    """One dial per idle agent: never abandons, and is the brake's fallback."""

    name = "progressive"

    def record(self, event: PacingEvent) -> None:
        return None

    def decide(self, obs: PacingObservation) -> int:
        return bounded_dials(obs.agents.idle - obs.outstanding - obs.queued, obs)


class FixedRatioPolicy:
    """Keep `ratio` dials ringing per idle agent (the classic static over-dial ratio)."""

    def __init__(self, ratio: float) -> None:
        self.ratio = max(0.0, ratio)
        self.name = f"ratio-{self.ratio:g}"

    def record(self, event: PacingEvent) -> None:
        return None

    def decide(self, obs: PacingObservation) -> int:
        wanted = math.floor(self.ratio * obs.agents.idle + 1e-9)
        return bounded_dials(wanted - obs.outstanding - obs.queued, obs)


class VicidialStylePolicy:
    """Adaptive dial level in the style of VICIdial: lines in use = dial level x logged-in agents.

    Every `adjust_every_s` seconds the level moves toward the drop target: down when the day's drop rate
    is above
    target, up while agents sit idle, capped at `max_level`.
    """

    name = "vicidial"

    def __init__(
        self,
        *,
        drop_target: float = 0.03,
        max_level: float = 3.0,
        adjust_every_s: float = 15.0,
        step: float = 0.1,
    ) -> None:
        self.drop_target = drop_target
        self.max_level = max_level
        self.adjust_every_s = adjust_every_s
        self.step = step
        self.level = 1.0
        self._live = 0
        self._drops = 0
        self._last_adjust_s: float | None = None
        self._idle_samples = 0.0
        self._samples = 0

    def record(self, event: PacingEvent) -> None:
        if isinstance(event, DialResolved) and event.outcome is DialOutcome.LIVE:
            self._live += 1
        elif isinstance(event, LiveAnswerAbandoned):
            self._drops += 1
        elif isinstance(event, CallHandled):
            pass

    def _adjust(self, now_s: float) -> None:
        drop_rate = self._drops / self._live if self._live else 0.0
        mean_idle = self._idle_samples / self._samples if self._samples else 0.0
        if drop_rate > self.drop_target:
            # Further above target, bigger steps down (VICIdial's tapered adaptation).
            excess = (drop_rate - self.drop_target) / self.drop_target
            self.level -= self.step * (1.0 + min(4.0, 4.0 * excess))
        elif mean_idle > 0.5:
            self.level += self.step
        self.level = min(self.max_level, max(1.0, self.level))
        self._last_adjust_s = now_s
        self._idle_samples = 0.0
        self._samples = 0

    def decide(self, obs: PacingObservation) -> int:
        now = obs.now_s
        if self._last_adjust_s is None or now < self._last_adjust_s:
            self._last_adjust_s = now  # first call, or the clock went backwards: restart the interval
        elif now - self._last_adjust_s >= self.adjust_every_s:
            self._adjust(now)
        self._idle_samples += obs.agents.idle
        self._samples += 1
        lines = math.floor(self.level * obs.agents.logged_in + 1e-9)
        in_use = obs.agents.busy + obs.outstanding + obs.queued
        return bounded_dials(lines - in_use, obs)
