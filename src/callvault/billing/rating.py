"""Pure rating: which rate applies to a closed leg, how many seconds are billed, what it costs. Decimal only.

A rate names its destination by E.164 prefix (``+86138``), by number type (``mobile``, ``fixed_line``, ``toll_free``,
``short_code``) or ``*``; the longest matching prefix wins, then the number type, then ``*``. Billed seconds follow
the usual telecom rule: an answered call is billed at least ``minimum_seconds``, then rounded up to a whole number
of ``increment_seconds`` (60/60 is per started minute, 6/6 is per six seconds). Unanswered legs cost nothing but
are still rated, so every closed leg has exactly one rated row.
"""

from __future__ import annotations

import enum
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Final
from zoneinfo import ZoneInfo

# Amounts of one leg are kept to 1/10000 of a yuan; invoices round once, at the total, to the fen.
LEG_QUANTUM: Final = Decimal("0.0001")
INVOICE_QUANTUM: Final = Decimal("0.01")
# Invoices follow the institutions' calendar: a call at 23:30 on 30 November in Beijing is a November call.
BILLING_TZ: Final = ZoneInfo("Asia/Shanghai")
ANY_DESTINATION: Final = "*"
NUMBER_TYPES: Final = frozenset({"mobile", "fixed_line", "toll_free", "short_code", "premium", "international"})


class Channel(enum.StrEnum):
    VOICE = "voice"
    MESSAGE = "message"


class Direction(enum.StrEnum):
    OUTBOUND = "outbound"
    INBOUND = "inbound"


@dataclass(frozen=True)
class RatingLeg:
    """One call leg (or message) as rating needs it; read from call records by `legs.py`.

    `destination` is the dialled number or just its E.164 prefix: rating keeps only the rate it matched, never
    the number itself."""

    leg_id: uuid.UUID
    tenant_id: uuid.UUID
    direction: Direction
    destination: str
    number_type: str
    trunk: str
    answered_at: datetime | None
    ended_at: datetime | None
    campaign_id: uuid.UUID | None = None
    channel: Channel = Channel.VOICE

    @property
    def closed(self) -> bool:
        return self.ended_at is not None

    @property
    def talk_seconds(self) -> int:
        """Whole seconds from answer to end, a started second counting as one (switches bill that way)."""
        if self.answered_at is None or self.ended_at is None or self.ended_at <= self.answered_at:
            return 0
        return math.ceil((self.ended_at - self.answered_at).total_seconds())


@dataclass(frozen=True)
class Rate:
    destination: str
    price_per_minute: Decimal
    minimum_seconds: int = 0
    increment_seconds: int = 60
    direction: Direction = Direction.OUTBOUND

    def matches_prefix(self, number: str) -> bool:
        return self.destination.startswith("+") and number.startswith(self.destination)


@dataclass(frozen=True)
class Charge:
    """What rating decided for one leg."""

    rate_key: str
    billed_seconds: int
    unit_price: Decimal
    amount: Decimal


class NoRate(Exception):
    """No rate of the tariff covers the leg: it stays unrated (and is reported) until a rate is added."""


def billed_seconds(talk_seconds: int, *, minimum_seconds: int, increment_seconds: int) -> int:
    """Seconds billed for a call of `talk_seconds`: zero if unanswered, else at least the minimum, in increments."""
    if talk_seconds <= 0:
        return 0
    step = max(1, increment_seconds)
    return max(minimum_seconds, math.ceil(talk_seconds / step) * step)


def per_minute_amount(seconds: int, price_per_minute: Decimal) -> Decimal:
    return (Decimal(seconds) * price_per_minute / Decimal(60)).quantize(LEG_QUANTUM, rounding=ROUND_HALF_UP)


def find_rate(rates: Sequence[Rate], leg: RatingLeg) -> Rate:
    """The longest matching prefix, else the leg's number type, else ``*``, among rates of the leg's direction."""
    candidates = [r for r in rates if r.direction is leg.direction]
    prefixed = [r for r in candidates if r.matches_prefix(leg.destination)]
    if prefixed:
        return max(prefixed, key=lambda r: len(r.destination))
    for wanted in (leg.number_type, ANY_DESTINATION):
        for rate in candidates:
            if wanted and rate.destination == wanted:
                return rate
    raise NoRate(f"no {leg.direction.value} rate for this destination")


def rate_call(rates: Sequence[Rate], leg: RatingLeg) -> Charge:
    rate = find_rate(rates, leg)
    seconds = billed_seconds(
        leg.talk_seconds, minimum_seconds=rate.minimum_seconds, increment_seconds=rate.increment_seconds
    )
    return Charge(rate.destination, seconds, rate.price_per_minute, per_minute_amount(seconds, rate.price_per_minute))


def rate_leg(rates: Sequence[Rate], message_price: Decimal, leg: RatingLeg) -> Charge:
    """The price of one closed leg under a tariff (per-minute rates and a per-message price)."""
    if leg.channel is Channel.MESSAGE:
        price = message_price.quantize(LEG_QUANTUM, rounding=ROUND_HALF_UP)
        return Charge("message", 0, price, price)
    return rate_call(rates, leg)


def billing_month(at: datetime) -> str:
    """``YYYY-MM`` of a time in the billing calendar."""
    return at.astimezone(BILLING_TZ).strftime("%Y-%m")
