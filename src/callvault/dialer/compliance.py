"""Abandon accounting per campaign (rolling 24 h, rolling 30 days, since midnight), the pacing brake, and the
72-hour no-redial hold for numbers whose call was abandoned."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from callvault.dialer.models import PacingEvent, PacingObservation
from callvault.dialer.policies import PacingPolicy, ProgressivePolicy

DAY_S = 86_400.0
ABANDON_CAP = 0.03


@dataclass(frozen=True, slots=True)
class WindowCounts:
    """Live answers and abandons in one accounting window."""

    live: float
    abandoned: float

    @property
    def rate(self) -> float:
        return self.abandoned / self.live if self.live > 0 else 0.0


class RollingCount:
    """Counts over a sliding window, kept in fixed buckets so memory stays bounded."""

    def __init__(self, window_s: float, bucket_s: float) -> None:
        self.window_s = window_s
        self.bucket_s = bucket_s
        self._buckets: deque[list[float]] = deque()  # [bucket index, live, abandoned]
        self._live = 0.0
        self._abandoned = 0.0

    def add(self, at_s: float, *, live: float = 0.0, abandoned: float = 0.0) -> None:
        idx = math.floor(at_s / self.bucket_s)
        if self._buckets and idx <= self._buckets[-1][0]:
            bucket = self._buckets[-1]  # late or out-of-order report: count it in the newest bucket
        else:
            bucket = [float(idx), 0.0, 0.0]
            self._buckets.append(bucket)
        bucket[1] += live
        bucket[2] += abandoned
        self._live += live
        self._abandoned += abandoned

    def counts(self, now_s: float) -> WindowCounts:
        oldest = math.floor((now_s - self.window_s) / self.bucket_s)
        while self._buckets and self._buckets[0][0] <= oldest:
            _, live, abandoned = self._buckets.popleft()
            self._live -= live
            self._abandoned -= abandoned
        return WindowCounts(live=max(0.0, self._live), abandoned=max(0.0, self._abandoned))


class AbandonLedger:
    """One campaign's abandon accounting.

    An abandoned call is a live answer not connected to an agent within the grace time. Answering-machine
    false
    positives (a person answered, the detector said machine and the call was dropped) count as live
    answers and
    as abandons. `amd_false_positive_share` estimates them from machine detections when individual false
    positives are not known (UK practice); leave it 0 when they are recorded one by one.
    """

    WINDOWS = ("rolling_24h", "rolling_30d", "since_midnight")

    def __init__(self, *, midnight_offset_s: float = 0.0, amd_false_positive_share: float = 0.0) -> None:
        self.midnight_offset_s = midnight_offset_s
        self.amd_false_positive_share = amd_false_positive_share
        self._day = RollingCount(DAY_S, 60.0)
        self._month = RollingCount(30 * DAY_S, 3_600.0)
        self._today_index: int | None = None
        self._today = WindowCounts(0.0, 0.0)
        self.total = WindowCounts(0.0, 0.0)

    def _add(self, at_s: float, live: float, abandoned: float) -> None:
        self._day.add(at_s, live=live, abandoned=abandoned)
        self._month.add(at_s, live=live, abandoned=abandoned)
        day = math.floor((at_s + self.midnight_offset_s) / DAY_S)
        if self._today_index is None or day > self._today_index:
            self._today_index, self._today = day, WindowCounts(0.0, 0.0)
        self._today = WindowCounts(self._today.live + live, self._today.abandoned + abandoned)
        self.total = WindowCounts(self.total.live + live, self.total.abandoned + abandoned)

    def record_live_answer(self, at_s: float) -> None:
        self._add(at_s, 1.0, 0.0)

    def record_abandon(self, at_s: float) -> None:
        """An earlier-recorded live answer was not connected within the grace time."""
        self._add(at_s, 0.0, 1.0)

    def record_amd_false_positive(self, at_s: float) -> None:
        """A person answered but was dropped as a machine: a live answer and an abandon."""
        self._add(at_s, 1.0, 1.0)

    def record_machine_detection(self, at_s: float) -> None:
        """A machine detection; adds the estimated share of hidden false positives."""
        share = self.amd_false_positive_share
        if share > 0:
            self._add(at_s, share, share)

    def window(self, name: str, now_s: float) -> WindowCounts:
        """Counts in one window: rolling_24h (UK), rolling_30d (US), since_midnight."""
        if name == "rolling_24h":
            return self._day.counts(now_s)
        if name == "rolling_30d":
            return self._month.counts(now_s)
        if name == "since_midnight":
            day = math.floor((now_s + self.midnight_offset_s) / DAY_S)
            return self._today if day == self._today_index else WindowCounts(0.0, 0.0)
        raise ValueError(f"unknown abandon window {name!r}")


class CompliancePacing:
    """Wraps a pacing policy: paces it to the tightest window and brakes to progressive before a window could
    exceed the cap.

    A window brakes when one more abandon (`reserve_abandons`) would put it over the cap; windows with
    fewer than
    `min_live` live answers are judged against `min_live` so the first minutes of a campaign are not
    hostage to
    a single call.
    """

    def __init__(
        self,
        inner: PacingPolicy,
        ledger: AbandonLedger,
        *,
        cap: float = ABANDON_CAP,
        windows: tuple[str, ...] = ("rolling_24h", "rolling_30d"),
        min_live: float = 300.0,
        reserve_abandons: float = 1.0,
        prior_live: float = 200.0,
        window_gain: float = 2.0,
        cap_z: float = 1.0,
    ) -> None:
        self.cap_z = cap_z
        self.prior_live = prior_live
        self.window_gain = window_gain
        self.inner = inner
        self.ledger = ledger
        self.cap = cap
        self.windows = windows
        self.min_live = min_live
        self.reserve_abandons = reserve_abandons
        self.name = inner.name
        self._fallback = ProgressivePolicy()
        base = getattr(inner, "target_abandon_rate", None)
        self._base_target: float | None = float(base) if base is not None else None
        self.braking = False
        self.brake_decisions = 0

    def record(self, event: PacingEvent) -> None:
        self.inner.record(event)

    def paced_target(self, counts: list[WindowCounts]) -> float | None:
        """Target for the inner policy: its own target, pulled down (or up) by how far the tightest window is
        from it. Windows are shrunk toward the target by `prior_live` pseudo-answers so a young window
        does not
        swing the pace on a handful of calls."""
        base = self._base_target
        if base is None:
            return None
        worst = max((c.abandoned + base * self.prior_live) / (c.live + self.prior_live) for c in counts)
        adjusted = base - self.window_gain * (worst - base)
        # A young window is easily pushed over the cap (and then brakes for long): start cautious.
        youngest = min(c.live for c in counts)
        adjusted *= min(1.0, 0.3 + 0.7 * youngest / self.min_live)
        # A small window swings by whole points per abandon: keep z standard errors of its rate below the cap.
        noise = self.cap_z * math.sqrt(self.cap / max(youngest, 1.0))
        adjusted = min(adjusted, self.cap - noise)
        return min(1.2 * base, max(0.2 * base, adjusted))

    def decide(self, obs: PacingObservation) -> int:
        counts = [self.ledger.window(w, obs.now_s) for w in self.windows]
        self.braking = any(c.abandoned + self.reserve_abandons > self.cap * max(c.live, self.min_live) for c in counts)
        target = self.paced_target(counts)
        pace_to = getattr(self.inner, "pace_to", None)
        if target is not None and pace_to is not None:
            pace_to(target)
        if self.braking:
            # The inner policy keeps learning from record(); not asking it avoids steering on
            # dials never placed.
            self.brake_decisions += 1
            return self._fallback.decide(obs)
        return self.inner.decide(obs)


class AbandonedNumberHold:
    """No redial within 72 h of an abandoned call to the same number."""

    def __init__(self, hold_s: float = 72 * 3_600.0) -> None:
        self.hold_s = hold_s
        self._until: dict[str, float] = {}

    def mark_abandoned(self, number: str, at_s: float) -> None:
        self._until[number] = max(self._until.get(number, -math.inf), at_s + self.hold_s)

    def may_dial(self, number: str, now_s: float) -> bool:
        until = self._until.get(number)
        return until is None or now_s >= until

    def release_expired(self, now_s: float) -> int:
        """Forget holds that have ended; returns how many were released."""
        expired = [n for n, until in self._until.items() if now_s >= until]
        for number in expired:
            del self._until[number]
        return len(expired)
