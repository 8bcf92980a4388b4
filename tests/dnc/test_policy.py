"""`call_permitted`: every rule on its own, their order, and properties of the caps."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callvault.dnc.policy import (
    AnnoyanceRules,
    CallHistory,
    ConsentMatch,
    DncMatch,
    DncScope,
    Purpose,
    Verdict,
    call_permitted,
    in_quiet_hours,
    listing_verdict,
    local_zone,
)

NUMBER = "+8613800138000"
SHANGHAI = ZoneInfo("Asia/Shanghai")
# 2026-12-01 14:00 in Shanghai: well outside quiet hours.
NOON = datetime(2026, 12, 1, 14, 0, tzinfo=SHANGHAI).astimezone(UTC)
CONSENT = ConsentMatch(Purpose.MARKETING, granted_at=NOON - timedelta(days=30))


def test_nothing_known_allows_a_service_call() -> None:
    assert call_permitted(NUMBER, Purpose.NOTIFICATION, NOON) is Verdict.ALLOWED


def test_marketing_needs_a_valid_consent() -> None:
    assert call_permitted(NUMBER, Purpose.MARKETING, NOON) is Verdict.NO_CONSENT
    assert call_permitted(NUMBER, Purpose.MARKETING, NOON, consents=[CONSENT]) is Verdict.ALLOWED
    withdrawn = ConsentMatch(Purpose.MARKETING, granted_at=NOON - timedelta(days=3), withdrawn_at=NOON)
    expired = ConsentMatch(Purpose.MARKETING, granted_at=NOON - timedelta(days=3), expires_at=NOON - timedelta(1))
    future = ConsentMatch(Purpose.MARKETING, granted_at=NOON + timedelta(hours=1))
    for consent in (withdrawn, expired, future):
        assert call_permitted(NUMBER, Purpose.MARKETING, NOON, consents=[consent]) is Verdict.NO_CONSENT


def test_refusal_stops_marketing_only_and_a_full_entry_stops_everything() -> None:
    refusal = DncMatch(DncScope.INSTITUTION)
    assert call_permitted(NUMBER, Purpose.MARKETING, NOON, dnc=[refusal], consents=[CONSENT]) is Verdict.DO_NOT_CALL
    assert call_permitted(NUMBER, Purpose.COLLECTIONS, NOON, dnc=[refusal]) is Verdict.ALLOWED
    everything = DncMatch(DncScope.GLOBAL, all_purposes=True)
    assert call_permitted(NUMBER, Purpose.COLLECTIONS, NOON, dnc=[everything]) is Verdict.DO_NOT_CALL


def test_expired_entries_and_other_campaigns_do_not_block() -> None:
    campaign, other = uuid.uuid4(), uuid.uuid4()
    expired = DncMatch(DncScope.INSTITUTION, all_purposes=True, expires_at=NOON)
    scoped = DncMatch(DncScope.CAMPAIGN, all_purposes=True, campaign_id=campaign)
    assert call_permitted(NUMBER, Purpose.CARE, NOON, dnc=[expired]) is Verdict.ALLOWED
    assert call_permitted(NUMBER, Purpose.CARE, NOON, dnc=[scoped], campaign_id=other) is Verdict.ALLOWED
    assert call_permitted(NUMBER, Purpose.CARE, NOON, dnc=[scoped]) is Verdict.ALLOWED
    assert call_permitted(NUMBER, Purpose.CARE, NOON, dnc=[scoped], campaign_id=campaign) is Verdict.DO_NOT_CALL


def test_no_redial_for_72_hours_after_an_abandoned_call() -> None:
    recent = CallHistory(abandoned=[NOON - timedelta(hours=71, minutes=59)])
    old = CallHistory(abandoned=[NOON - timedelta(hours=72)])
    assert call_permitted(NUMBER, Purpose.CARE, NOON, history=recent) is Verdict.ABANDONED_RECENTLY
    assert call_permitted(NUMBER, Purpose.CARE, NOON, history=old) is Verdict.ALLOWED


@pytest.mark.parametrize(
    ("local", "verdict"),
    [
        (time(7, 59), Verdict.QUIET_HOURS),
        (time(8, 0), Verdict.ALLOWED),
        (time(20, 59), Verdict.ALLOWED),
        (time(21, 0), Verdict.QUIET_HOURS),
        (time(0, 30), Verdict.QUIET_HOURS),
    ],
)
def test_quiet_hours_in_the_callees_local_time(local: time, verdict: Verdict) -> None:
    now = datetime.combine(NOON.astimezone(SHANGHAI).date(), local, SHANGHAI).astimezone(UTC)
    assert call_permitted(NUMBER, Purpose.CARE, now) is verdict


def test_quiet_hours_follow_the_numbers_zone() -> None:
    assert str(local_zone(NUMBER)) == "Asia/Shanghai"
    assert str(local_zone("+442079460000")) == "Europe/London"
    # 14:00 in Shanghai is 06:00 in London: quiet there.
    assert call_permitted("+442079460000", Purpose.CARE, NOON) is Verdict.QUIET_HOURS


def test_daily_and_weekly_caps_across_campaigns() -> None:
    rules = AnnoyanceRules(max_per_day=2, max_per_week=3)
    today = CallHistory(attempts=[NOON - timedelta(hours=2), NOON - timedelta(hours=1)])
    assert call_permitted(NUMBER, Purpose.CARE, NOON, history=today, rules=rules) is Verdict.DAILY_CAP
    # Tuesday: Monday's and today's attempts count for the week, last Sunday's do not.
    week = CallHistory(
        attempts=[NOON - timedelta(days=1), NOON - timedelta(hours=1), NOON - timedelta(days=1, hours=1)]
    )
    assert call_permitted(NUMBER, Purpose.CARE, NOON, history=week, rules=rules) is Verdict.WEEKLY_CAP
    last_week = CallHistory(attempts=[NOON - timedelta(days=2 + i) for i in range(5)])
    assert call_permitted(NUMBER, Purpose.CARE, NOON, history=last_week, rules=rules) is Verdict.ALLOWED


def test_the_hardest_rule_is_reported_first() -> None:
    everything = [DncMatch(DncScope.INSTITUTION)]
    history = CallHistory(attempts=[NOON] * 20, abandoned=[NOON - timedelta(hours=1)])
    night = NOON + timedelta(hours=9)
    assert call_permitted(NUMBER, Purpose.MARKETING, night, dnc=everything, history=history) is Verdict.DO_NOT_CALL
    assert call_permitted(NUMBER, Purpose.MARKETING, night, history=history) is Verdict.NO_CONSENT
    assert call_permitted(NUMBER, Purpose.CARE, night, history=history) is Verdict.ABANDONED_RECENTLY


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        call_permitted(NUMBER, Purpose.CARE, datetime(2026, 12, 1, 14, 0))


@given(start=st.times(), end=st.times(), probe=st.times())
def test_quiet_hours_split_the_day_in_two(start: time, end: time, probe: time) -> None:
    """Swapping start and end gives exactly the complement (apart from the empty window start == end)."""
    if start == end:
        assert not in_quiet_hours(probe, start, end)
        return
    assert in_quiet_hours(probe, start, end) != in_quiet_hours(probe, end, start)


@given(st.lists(st.integers(min_value=0, max_value=14 * 24 * 60), max_size=30), st.integers(min_value=1, max_value=5))
def test_daily_cap_blocks_exactly_when_reached(minutes_ago: list[int], cap: int) -> None:
    attempts = [NOON - timedelta(minutes=m) for m in minutes_ago]
    rules = AnnoyanceRules(max_per_day=cap, max_per_week=None, quiet_start=None, quiet_end=None)
    today = NOON.astimezone(SHANGHAI).date()
    same_day = sum(a.astimezone(SHANGHAI).date() == today for a in attempts)
    verdict = call_permitted(NUMBER, Purpose.CARE, NOON, history=CallHistory(attempts=attempts), rules=rules)
    assert (verdict is Verdict.DAILY_CAP) == (same_day >= cap)


_DNC = st.builds(
    DncMatch,
    scope=st.sampled_from([DncScope.GLOBAL, DncScope.INSTITUTION]),
    all_purposes=st.booleans(),
    expires_at=st.none() | st.sampled_from([NOON - timedelta(days=1), NOON + timedelta(days=1)]),
)
_WHEN = st.sampled_from([None, NOON - timedelta(days=1), NOON + timedelta(days=1)])
_CONSENT = st.builds(
    ConsentMatch,
    purpose=st.sampled_from(list(Purpose)),
    granted_at=st.sampled_from([NOON - timedelta(days=30), NOON + timedelta(hours=1)]),
    withdrawn_at=_WHEN,
    expires_at=_WHEN,
)


@given(
    purpose=st.sampled_from(list(Purpose)),
    dnc=st.lists(_DNC, max_size=3),
    consents=st.lists(_CONSENT, max_size=3),
)
def test_the_import_verdict_is_the_diallers_refusal_for_good(
    purpose: Purpose, dnc: list[DncMatch], consents: list[ConsentMatch]
) -> None:
    """What a list import refuses is exactly what `call_permitted` refuses at any hour with no call history."""
    at_import = listing_verdict(purpose, NOON, dnc=dnc, consents=consents)
    at_dial = call_permitted(NUMBER, purpose, NOON, dnc=dnc, consents=consents)
    if at_import is Verdict.ALLOWED:
        assert at_dial is Verdict.ALLOWED
    else:
        assert at_dial is at_import in (Verdict.DO_NOT_CALL, Verdict.NO_CONSENT)
