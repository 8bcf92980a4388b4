"""Abandon accounting arithmetic, the compliance brake and the 72-hour no-redial hold."""

from __future__ import annotations

import numpy as np
import pytest

from callvault.dialer.compliance import DAY_S, AbandonedNumberHold, AbandonLedger, CompliancePacing
from callvault.dialer.models import AgentStates, PacingEvent, PacingObservation


def test_rolling_windows_count_and_expire() -> None:
    ledger = AbandonLedger()
    for i in range(100):
        ledger.record_live_answer(i * 60.0)
    for i in range(3):
        ledger.record_abandon(i * 60.0 + 1)
    day = ledger.window("rolling_24h", 100 * 60.0)
    assert (day.live, day.abandoned) == (100, 3)
    assert day.rate == pytest.approx(0.03)
    # Two days later the 24-hour window is empty; the 30-day window still holds everything.
    later = 2 * DAY_S
    assert ledger.window("rolling_24h", later).live == 0
    month = ledger.window("rolling_30d", later)
    assert (month.live, month.abandoned) == (100, 3)
    assert ledger.window("rolling_30d", 32 * DAY_S).live == 0


def test_since_midnight_resets_at_local_midnight() -> None:
    # Campaign clock starts at 22:00 local time: midnight is 2 h in.
    ledger = AbandonLedger(midnight_offset_s=22 * 3600.0)
    ledger.record_live_answer(3600.0)
    ledger.record_abandon(3600.0)
    assert ledger.window("since_midnight", 3700.0).abandoned == 1
    assert ledger.window("since_midnight", 2 * 3600.0 + 10).live == 0
    ledger.record_live_answer(3 * 3600.0)
    today = ledger.window("since_midnight", 3 * 3600.0)
    assert (today.live, today.abandoned) == (1, 0)
    assert ledger.window("rolling_24h", 3 * 3600.0).live == 2


def test_machine_false_positives_count_as_live_and_abandoned() -> None:
    ledger = AbandonLedger(amd_false_positive_share=0.1)
    ledger.record_live_answer(0.0)
    ledger.record_amd_false_positive(1.0)
    for _ in range(10):
        ledger.record_machine_detection(2.0)  # 10 detections x 0.1 estimated hidden false positives
    w = ledger.window("rolling_24h", 3.0)
    assert w.live == pytest.approx(3.0)
    assert w.abandoned == pytest.approx(2.0)


def test_late_reports_do_not_corrupt_counts() -> None:
    ledger = AbandonLedger()
    ledger.record_live_answer(1000.0)
    ledger.record_live_answer(10.0)  # the clock went backwards
    ledger.record_abandon(5.0)
    w = ledger.window("rolling_24h", 1000.0)
    assert (w.live, w.abandoned) == (2, 1)


def test_unknown_window_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown abandon window"):
        AbandonLedger().window("weekly", 0.0)


class _Greedy:
    """A policy that always wants 50 dials."""

    name = "greedy"
    target_abandon_rate = 0.025

    def __init__(self) -> None:
        self.paced: list[float] = []

    def record(self, event: PacingEvent) -> None:
        return None

    def pace_to(self, target: float) -> None:
        self.paced.append(target)

    def decide(self, obs: PacingObservation) -> int:
        return 50


def _obs(idle: int, busy: int, ringing: int, now: float = 5000.0) -> PacingObservation:
    return PacingObservation(
        now_s=now,
        agents=AgentStates(idle_elapsed_s=np.ones(idle), busy_elapsed_s=np.ones(busy)),
        ringing_elapsed_s=np.ones(ringing),
    )


def test_brake_falls_back_to_progressive_before_the_cap_can_be_exceeded() -> None:
    ledger = AbandonLedger()
    inner = _Greedy()
    pacing = CompliancePacing(inner, ledger, min_live=100.0)
    for _ in range(1000):
        ledger.record_live_answer(10.0)
    for _ in range(28):
        ledger.record_abandon(10.0)
    assert pacing.decide(_obs(idle=3, busy=7, ringing=1)) == 50  # 28 + 1 <= 30: predictive allowed
    ledger.record_abandon(11.0)  # 29 + 1 would reach 30 = 3 % of 1000: one more could exceed
    ledger.record_abandon(11.0)
    assert pacing.decide(_obs(idle=3, busy=7, ringing=1)) == 2  # progressive: idle - ringing
    assert pacing.braking


def test_a_hot_window_lowers_the_inner_target() -> None:
    ledger = AbandonLedger()
    inner = _Greedy()
    pacing = CompliancePacing(inner, ledger)
    for _ in range(2000):
        ledger.record_live_answer(10.0)
    for _ in range(50):  # 2.5 %: exactly the inner target
        ledger.record_abandon(10.0)
    pacing.decide(_obs(idle=1, busy=9, ringing=0))
    on_target = inner.paced[-1]
    for _ in range(5):  # now 2.75 %
        ledger.record_abandon(10.0)
    pacing.decide(_obs(idle=1, busy=9, ringing=0))
    assert inner.paced[-1] < on_target <= 0.025 * 1.2


def test_no_redial_within_72_hours_of_an_abandon() -> None:
    hold = AbandonedNumberHold()
    hold.mark_abandoned("+8613800000000", 100.0)
    assert not hold.may_dial("+8613800000000", 100.0 + 71.9 * 3600)
    assert hold.may_dial("+8613800000001", 200.0)
    assert hold.may_dial("+8613800000000", 100.0 + 72 * 3600)
    hold.mark_abandoned("+8613800000002", 0.0)
    assert hold.release_expired(100.0 + 72 * 3600) == 2
    assert hold.may_dial("+8613800000000", 0.0)


def test_a_small_window_keeps_its_noise_under_the_cap() -> None:
    ledger = AbandonLedger()
    inner = _Greedy()
    pacing = CompliancePacing(inner, ledger, cap_z=1.0)
    for _ in range(150):
        ledger.record_live_answer(10.0)
    pacing.decide(_obs(idle=1, busy=9, ringing=0))
    # One standard error of a 3 % rate over 150 answers is 1.4 points: the target stays that far below.
    assert inner.paced[-1] <= 0.03 - (0.03 / 150) ** 0.5 + 1e-12
    for _ in range(100_000):
        ledger.record_live_answer(20.0)
    pacing.decide(_obs(idle=1, busy=9, ringing=0))
    assert inner.paced[-1] > 0.025  # a large window is held to the policy's own target instead
