"""Calling windows, destination rules, retry decisions and rating as plain functions."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from callvault.campaigns.strategy import (
    DEFAULT_RETRY,
    CallingWindow,
    Destinations,
    Outcome,
    Rating,
    RetryDecision,
    after_attempt,
    destination_refusal,
    window_opening,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
WEEKDAYS = CallingWindow(days=[1, 2, 3, 4, 5], start=time(9), end=time(20))
SATURDAY = CallingWindow(days=[6], start=time(10), end=time(12))


@given(
    moment=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2028, 1, 1), timezones=st.just(UTC)),
    zone=st.sampled_from([SHANGHAI, NEW_YORK]),
)
def test_the_opening_is_now_or_the_next_moment_a_window_opens(moment: datetime, zone: ZoneInfo) -> None:
    windows = [WEEKDAYS, SATURDAY]
    opening = window_opening(windows, moment, zone)
    assert opening is not None and opening >= moment
    local = opening.astimezone(zone)
    assert any(local.isoweekday() in w.days and w.start <= local.time() < w.end for w in windows)
    # Nothing opened in between: a minute earlier (if after `moment`) the windows were closed.
    earlier = opening - timedelta(minutes=1)
    if earlier >= moment:
        e = earlier.astimezone(zone)
        assert not any(e.isoweekday() in w.days and w.start <= e.time() < w.end for w in windows)


def test_calling_windows_use_the_callee_zone() -> None:
    monday_8_utc = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # 16:00 in Shanghai, 03:00 in New York
    assert window_opening([WEEKDAYS], monday_8_utc, SHANGHAI) == monday_8_utc
    assert window_opening([WEEKDAYS], monday_8_utc, NEW_YORK) == datetime(2026, 11, 30, 14, 0, tzinfo=UTC)
    assert window_opening([], monday_8_utc, NEW_YORK) == monday_8_utc


def test_destination_rules() -> None:
    home = Destinations()
    assert destination_refusal(home, e164="+8613800138000", phone_type="mobile") is None
    assert destination_refusal(home, e164="+14155550100", phone_type="mobile") == "international"
    abroad = Destinations(international=True, allowed_types=["mobile"], allowed_prefixes=["+86138", "+1"])
    assert destination_refusal(abroad, e164="+14155550100", phone_type="mobile") is None
    assert destination_refusal(abroad, e164="+862088881234", phone_type="fixed_line") == "number_type"
    assert destination_refusal(abroad, e164="+8613900139000", phone_type="mobile") == "prefix"


def test_retry_decisions() -> None:
    no_redial = timedelta(hours=72)
    assert after_attempt(Outcome.ANSWERED, count_for_outcome=1, rules=DEFAULT_RETRY, no_redial=no_redial) == (
        RetryDecision.DONE,
        timedelta(0),
    )
    assert after_attempt(Outcome.BUSY, count_for_outcome=1, rules=DEFAULT_RETRY, no_redial=no_redial) == (
        RetryDecision.RETRY,
        timedelta(minutes=10),
    )
    assert after_attempt(Outcome.BUSY, count_for_outcome=3, rules=DEFAULT_RETRY, no_redial=no_redial)[0] is (
        RetryDecision.NEXT_PHONE
    )
    assert after_attempt(Outcome.ABANDONED, count_for_outcome=1, rules=DEFAULT_RETRY, no_redial=no_redial) == (
        RetryDecision.RETRY,
        no_redial,
    )
    interrupted = after_attempt(Outcome.INTERRUPTED, count_for_outcome=1, rules=DEFAULT_RETRY, no_redial=no_redial)
    assert interrupted == (RetryDecision.RETRY, timedelta(minutes=30))


@given(talk=st.floats(min_value=0, max_value=7200, allow_nan=False))
def test_rating_bills_whole_increments_in_decimal(talk: float) -> None:
    rating = Rating(per_minute=Decimal("0.12"), increment_seconds=30, minimum_seconds=60)
    billed = rating.billed_seconds(talk)
    if talk == 0:
        assert billed == 0
    else:
        assert billed >= talk and billed % 30 == 0 and billed >= 60 and billed - talk <= 60
    assert rating.cost(billed) == (Decimal("0.12") * billed / 60).quantize(Decimal("0.0001"))
