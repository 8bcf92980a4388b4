"""Pure rating rules: increments, minimum, rate choice. Property tests over every combination hypothesis finds."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callvault.billing.rating import (
    Channel,
    Direction,
    NoRate,
    Rate,
    RatingLeg,
    billed_seconds,
    billing_month,
    find_rate,
    rate_leg,
)

T0 = datetime(2026, 10, 5, 8, 0, tzinfo=UTC)


def leg(
    destination: str = "+8613800138000", seconds: float = 61, number_type: str = "mobile", **kw: object
) -> RatingLeg:
    values: dict[str, object] = {
        "leg_id": uuid.uuid4(),
        "tenant_id": uuid.uuid4(),
        "direction": Direction.OUTBOUND,
        "destination": destination,
        "number_type": number_type,
        "trunk": "ct-sh-1",
        "answered_at": T0,
        "ended_at": T0 + timedelta(seconds=seconds),
    } | kw
    return RatingLeg(**values)  # type: ignore[arg-type]


@given(
    talk=st.integers(min_value=0, max_value=20_000),
    minimum=st.integers(min_value=0, max_value=600),
    increment=st.integers(min_value=1, max_value=600),
)
def test_billed_seconds_respect_minimum_and_increment(talk: int, minimum: int, increment: int) -> None:
    billed = billed_seconds(talk, minimum_seconds=minimum, increment_seconds=increment)
    if talk == 0:
        assert billed == 0  # unanswered: nothing billed, whatever the minimum
        return
    assert billed >= talk and billed >= minimum
    # Either the minimum applies, or the call is rounded up to the next whole increment and no further.
    assert billed == minimum or (billed % increment == 0 and billed - talk < increment)


@given(
    talk=st.integers(min_value=1, max_value=20_000),
    price=st.decimals(min_value=0, max_value=100, places=4, allow_nan=False, allow_infinity=False),
    increment=st.sampled_from([1, 6, 30, 60]),
    minimum=st.sampled_from([0, 6, 30, 60]),
)
def test_amount_is_exact_decimal_of_billed_minutes(talk: int, price: Decimal, increment: int, minimum: int) -> None:
    rate = Rate("+86", price, minimum_seconds=minimum, increment_seconds=increment)
    charge = rate_leg([rate], Decimal(0), leg(seconds=talk))
    assert isinstance(charge.amount, Decimal)
    exact = Decimal(charge.billed_seconds) * price / 60
    assert abs(charge.amount - exact) <= Decimal("0.00005")
    assert charge.amount.as_tuple().exponent >= -4


def test_sixty_sixty_and_six_six() -> None:
    per_minute = Rate("+86", Decimal("0.12"), minimum_seconds=60, increment_seconds=60)
    six = Rate("+86", Decimal("0.12"), minimum_seconds=6, increment_seconds=6)
    assert rate_leg([per_minute], Decimal(0), leg(seconds=61)).amount == Decimal("0.2400")
    assert rate_leg([six], Decimal(0), leg(seconds=61)).amount == Decimal("0.1320")
    assert rate_leg([per_minute], Decimal(0), leg(seconds=0.2)).billed_seconds == 60  # a started second counts


def test_unanswered_leg_costs_nothing_but_is_rated() -> None:
    charge = rate_leg([Rate("+86", Decimal("1"), 60, 60)], Decimal(0), leg(answered_at=None))
    assert charge.billed_seconds == 0 and charge.amount == 0


def test_longest_prefix_then_number_type_then_any() -> None:
    rates = [
        Rate("+86", Decimal("0.2")),
        Rate("+86138", Decimal("0.1")),
        Rate("toll_free", Decimal("0")),
        Rate("*", Decimal("0.5")),
        Rate("+86138", Decimal("0.05"), direction=Direction.INBOUND),
    ]
    assert find_rate(rates, leg("+8613800138000")).destination == "+86138"
    assert find_rate(rates, leg("+8602112345678")).destination == "+86"
    assert find_rate(rates, leg("4008001234", number_type="toll_free")).destination == "toll_free"
    assert find_rate(rates, leg("95588", number_type="short_code")).destination == "*"
    assert find_rate(rates, leg("+8613800138000", direction=Direction.INBOUND)).price_per_minute == Decimal("0.05")
    with pytest.raises(NoRate):
        find_rate(rates[:2], leg("95588", number_type="short_code"))


def test_message_is_priced_per_message() -> None:
    charge = rate_leg([], Decimal("0.045"), leg(channel=Channel.MESSAGE, answered_at=None))
    assert charge.amount == Decimal("0.0450") and charge.rate_key == "message"


def test_billing_month_is_beijing_calendar() -> None:
    assert billing_month(datetime(2026, 10, 31, 16, 30, tzinfo=UTC)) == "2026-11"
    assert billing_month(datetime(2026, 10, 31, 15, 59, tzinfo=UTC)) == "2026-10"
