"""A campaign's strategy as plain values: dialing modes, retry rules, calling windows, destination rules, rating.

Nothing here touches the database, so the runner's decisions (when may this contact be called again, may this
number be dialled at all, what did the call cost) are testable on their own.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, time, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Final
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from callvault.core.errors import InvalidInput


class DialingMode(StrEnum):
    PREVIEW = "preview"  # an agent sees the contact first and asks for the dial
    PROGRESSIVE = "progressive"  # one dial per idle agent
    PREDICTIVE = "predictive"  # the predictive pacing policy, under the abandon cap
    AGENTLESS = "agentless"  # an IVR flow takes the answered call (notifications, surveys); keypresses captured


class Status(StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"
    RUNNING = "running"
    PAUSED = "paused"
    FINISHED = "finished"


class Outcome(StrEnum):
    """How one dial attempt ended."""

    ANSWERED = "answered"  # reached: connected to an agent or an IVR flow
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    MACHINE = "machine"
    REJECTED = "rejected"
    FAILED = "failed"
    ABANDONED = "abandoned"  # answered, but no agent within the grace time
    INTERRUPTED = "interrupted"  # the runner stopped mid-dial; closed at the next start


RETRYABLE: Final = (Outcome.BUSY, Outcome.NO_ANSWER, Outcome.MACHINE, Outcome.REJECTED, Outcome.FAILED)


class RetryRule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    interval_minutes: int = Field(ge=0, le=30 * 24 * 60)
    max_attempts: int = Field(ge=1, le=50)


DEFAULT_RETRY: Final = {
    Outcome.BUSY: RetryRule(interval_minutes=10, max_attempts=3),
    Outcome.NO_ANSWER: RetryRule(interval_minutes=60, max_attempts=3),
    Outcome.MACHINE: RetryRule(interval_minutes=120, max_attempts=2),
    Outcome.REJECTED: RetryRule(interval_minutes=24 * 60, max_attempts=1),
    Outcome.FAILED: RetryRule(interval_minutes=30, max_attempts=2),
}


def retry_rules(stored: dict[str, object]) -> dict[Outcome, RetryRule]:
    rules = dict(DEFAULT_RETRY)
    for key, value in stored.items():
        rules[Outcome(key)] = RetryRule.model_validate(value)
    return rules


class RetryDecision(StrEnum):
    DONE = "done"  # reached: nothing more to do
    RETRY = "retry"  # same number after the interval
    NEXT_PHONE = "next_phone"  # this number is exhausted: the contact's next number, now
    EXHAUSTED = "exhausted"  # no number left


def after_attempt(
    outcome: Outcome, *, count_for_outcome: int, rules: dict[Outcome, RetryRule], no_redial: timedelta
) -> tuple[RetryDecision, timedelta]:
    """What to do with a contact after an attempt whose outcome now occurred `count_for_outcome` times."""
    if outcome is Outcome.ANSWERED:
        return RetryDecision.DONE, timedelta(0)
    if outcome is Outcome.ABANDONED:
        # The customer was reached but dropped: call again, once the no-redial period has passed.
        return (RetryDecision.RETRY, no_redial) if count_for_outcome <= 1 else (RetryDecision.EXHAUSTED, timedelta(0))
    rule = rules[Outcome.FAILED if outcome is Outcome.INTERRUPTED else outcome]
    if count_for_outcome < rule.max_attempts:
        return RetryDecision.RETRY, timedelta(minutes=rule.interval_minutes)
    return RetryDecision.NEXT_PHONE, timedelta(0)


class CallingWindow(BaseModel):
    """Hours in the callee's local time on ISO weekdays (1 = Monday); `end` after `start`, same day."""

    model_config = ConfigDict(extra="forbid")
    days: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5, 6, 7], min_length=1, max_length=7)
    start: time
    end: time

    @field_validator("days")
    @classmethod
    def _weekdays(cls, days: list[int]) -> list[int]:
        if any(d < 1 or d > 7 for d in days):
            raise ValueError("weekdays are 1 (Monday) to 7 (Sunday)")
        return sorted(set(days))

    @model_validator(mode="after")
    def _ordered(self) -> CallingWindow:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


def window_opening(windows: Sequence[CallingWindow], now: datetime, zone: tzinfo) -> datetime | None:
    """`now` if a window is open at the callee's location, else when the next one opens (UTC); None if never."""
    if not windows:
        return now
    local = now.astimezone(zone)
    for day_offset in range(8):
        day = (local + timedelta(days=day_offset)).date()
        starts = []
        for w in windows:
            if day.isoweekday() not in w.days:
                continue
            opens = datetime.combine(day, w.start, tzinfo=zone)
            closes = datetime.combine(day, w.end, tzinfo=zone)
            if opens <= local < closes:
                return now
            if opens > local:
                starts.append(opens)
        if starts:
            return min(starts).astimezone(now.tzinfo)
    return None


def zone_named(name: str, fallback: tzinfo) -> tzinfo:
    try:
        return ZoneInfo(name) if name else fallback
    except (ValueError, KeyError):
        return fallback


class Destinations(BaseModel):
    """Which numbers may be dialled: types (mobile, fixed_line, ...) and E.164 prefixes; empty means any.
    International numbers (outside `home_prefix`) only when `international` is set."""

    model_config = ConfigDict(extra="forbid")
    allowed_types: list[str] = Field(default_factory=list, max_length=20)
    allowed_prefixes: list[str] = Field(default_factory=list, max_length=200)
    international: bool = False
    home_prefix: str = Field(default="+86", pattern=r"^\+\d{1,4}$")

    @field_validator("allowed_prefixes")
    @classmethod
    def _prefixes(cls, prefixes: list[str]) -> list[str]:
        for p in prefixes:
            if not p.startswith("+") or not p[1:].isdigit() or len(p) > 16:
                raise ValueError("prefixes are E.164 beginnings such as +86138")
        return prefixes


def destination_refusal(rules: Destinations, *, e164: str, phone_type: str) -> str | None:
    """None if `rules` allow the number, else the blocked reason code."""
    if not rules.international and not e164.startswith(rules.home_prefix):
        return "international"
    if rules.allowed_types and phone_type not in rules.allowed_types:
        return "number_type"
    if rules.allowed_prefixes and not any(e164.startswith(p) for p in rules.allowed_prefixes):
        return "prefix"
    return None


class Rating(BaseModel):
    """Provisional per-minute price of an answered call until tariffs rate call legs (billing increments)."""

    model_config = ConfigDict(extra="forbid")
    per_minute: Decimal = Field(default=Decimal("0.10"), ge=0, max_digits=10, decimal_places=4)
    increment_seconds: int = Field(default=60, ge=1, le=3600)
    minimum_seconds: int = Field(default=0, ge=0, le=3600)

    def billed_seconds(self, talk_seconds: float) -> int:
        if talk_seconds <= 0:
            return 0
        billed = math.ceil(talk_seconds / self.increment_seconds) * self.increment_seconds
        return max(billed, self.minimum_seconds)

    def cost(self, billed_seconds: int) -> Decimal:
        return (self.per_minute * billed_seconds / 60).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


class InstitutionLimits(BaseModel):
    """The institution's ``campaigns`` setting: four eyes, lines, monthly budgets, destinations, rating."""

    model_config = ConfigDict(extra="forbid")
    four_eyes: bool = True
    max_lines: int | None = Field(default=None, ge=1, le=100_000)
    budget_minutes_per_month: int | None = Field(default=None, ge=0, le=1_000_000_000)
    budget_money_per_month: Decimal | None = Field(default=None, ge=0, max_digits=14, decimal_places=4)
    attempts_per_day: int | None = Field(default=None, ge=0, le=1_000_000_000)
    alert_thresholds: list[float] = Field(default_factory=lambda: [0.8], max_length=5)
    destinations: Destinations = Field(default_factory=Destinations)
    rating: Rating = Field(default_factory=Rating)

    @classmethod
    def from_settings(cls, settings: dict[str, object]) -> InstitutionLimits:
        try:
            return cls.model_validate(settings.get("campaigns") or {})
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            raise InvalidInput.one(
                f"settings.campaigns.{where}".rstrip("."), str(first.get("msg", "invalid"))
            ) from None
