"""Whether a number may be called now: the do-not-annoy rules as one pure function.

`call_permitted` knows nothing about the database: the caller (the campaign runner, the import) hands it the
DNC entries and consent records found for the number, the number's recent attempts and abandoned calls, and
the institution's rules. It answers `ALLOWED` or the first blocking reason, so every blocked attempt can be
counted with its reason. Checks run from the hardest rule (a do-not-call entry) to the softest (caps), so the
reason given is the one that would still block if the others were lifted.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo
from enum import StrEnum
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo

import phonenumbers
from phonenumbers import timezone as phone_timezone


class Purpose(StrEnum):
    """Why a number is called (the campaign or list purpose)."""

    NOTIFICATION = "notification"
    CARE = "care"
    SURVEY = "survey"
    VERIFICATION = "verification"
    COLLECTIONS = "collections"
    ACTIVATION = "activation"
    REMINDER = "reminder"
    RETURN_VISIT = "return_visit"
    MARKETING = "marketing"


class DncScope(StrEnum):
    """Who a do-not-call entry binds: every institution, one institution, or one campaign."""

    GLOBAL = "global"
    INSTITUTION = "institution"
    CAMPAIGN = "campaign"


class Verdict(StrEnum):
    """`ALLOWED`, or why the call must not be placed (stable codes, counted per blocked attempt)."""

    ALLOWED = "allowed"
    DO_NOT_CALL = "do_not_call"
    NO_CONSENT = "no_consent"
    ABANDONED_RECENTLY = "abandoned_recently"
    QUIET_HOURS = "quiet_hours"
    DAILY_CAP = "daily_cap"
    WEEKLY_CAP = "weekly_cap"


REASONS: Final = {
    Verdict.ALLOWED: "allowed",
    Verdict.DO_NOT_CALL: "on do-not-call list",
    Verdict.NO_CONSENT: "no marketing consent",
    Verdict.ABANDONED_RECENTLY: "abandoned call within the no-redial period",
    Verdict.QUIET_HOURS: "quiet hours at the callee's location",
    Verdict.DAILY_CAP: "daily attempt cap reached",
    Verdict.WEEKLY_CAP: "weekly attempt cap reached",
}

# Purposes that are marketing in the sense of the rules: consent required, stopped by any DNC entry.
MARKETING_PURPOSES: Final = frozenset({Purpose.MARKETING})


@dataclass(frozen=True)
class DncMatch:
    """A do-not-call entry found for the number. `all_purposes=False` (a refusal of marketing) blocks
    marketing only; `True` (the customer asked for no calls at all, a regulator order) blocks every purpose."""

    scope: DncScope
    all_purposes: bool = False
    campaign_id: uuid.UUID | None = None
    expires_at: datetime | None = None

    def active(self, now: datetime) -> bool:
        return self.expires_at is None or self.expires_at > now


@dataclass(frozen=True)
class ConsentMatch:
    """A consent record found for the number (granted at `granted_at`, maybe withdrawn or time-limited)."""

    purpose: Purpose
    granted_at: datetime
    withdrawn_at: datetime | None = None
    expires_at: datetime | None = None

    def valid(self, now: datetime) -> bool:
        return (
            self.granted_at <= now
            and (self.withdrawn_at is None or self.withdrawn_at > now)
            and (self.expires_at is None or self.expires_at > now)
        )


@dataclass(frozen=True)
class CallHistory:
    """The number's recent attempts across all campaigns of the institution, and its abandoned calls."""

    attempts: Sequence[datetime] = ()
    abandoned: Sequence[datetime] = ()


@dataclass(frozen=True)
class AnnoyanceRules:
    """An institution's limits. Quiet hours are local wall-clock times at the callee; `quiet_start` after
    `quiet_end` spans midnight (21:00-08:00). Caps count attempts per local calendar day / ISO week."""

    max_per_day: int | None = 3
    max_per_week: int | None = 10
    no_redial_after_abandon: timedelta = timedelta(hours=72)
    quiet_start: time | None = time(21, 0)
    quiet_end: time | None = time(8, 0)


DEFAULT_RULES: Final = AnnoyanceRules()
_FALLBACK_ZONE: Final = ZoneInfo("Asia/Shanghai")


@lru_cache(maxsize=4096)
def local_zone(e164: str) -> tzinfo:
    """The callee's time zone from the number (`phonenumbers` geography); China's single zone if unknown."""
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return _FALLBACK_ZONE
    zones = [z for z in phone_timezone.time_zones_for_number(parsed) if z != phone_timezone.UNKNOWN_TIMEZONE]
    # A number spanning several zones (a US mobile): take the first; quiet hours then err by at most a few hours.
    return ZoneInfo(zones[0]) if zones else _FALLBACK_ZONE


def dnc_blocks(matches: Iterable[DncMatch], purpose: Purpose, now: datetime, campaign_id: uuid.UUID | None) -> bool:
    """Whether any active entry stops a call for `purpose` (campaign entries only within their campaign)."""
    for entry in matches:
        if not entry.active(now):
            continue
        if entry.scope is DncScope.CAMPAIGN and (campaign_id is None or entry.campaign_id != campaign_id):
            continue
        if entry.all_purposes or purpose in MARKETING_PURPOSES:
            return True
    return False


def listing_verdict(
    purpose: Purpose,
    now: datetime,
    *,
    dnc: Iterable[DncMatch] = (),
    consents: Iterable[ConsentMatch] = (),
    campaign_id: uuid.UUID | None = None,
) -> Verdict:
    """The rules about the number itself, not about when it is called: `DO_NOT_CALL`, `NO_CONSENT` (marketing
    needs a valid consent for the purpose) or `ALLOWED`. `call_permitted` starts with it; a list import applies it
    alone, so a row the dialler would refuse for good is refused when the list is imported, for the same reason."""
    if dnc_blocks(dnc, purpose, now, campaign_id):
        return Verdict.DO_NOT_CALL
    if purpose in MARKETING_PURPOSES and not any(c.purpose is purpose and c.valid(now) for c in consents):
        return Verdict.NO_CONSENT
    return Verdict.ALLOWED


def in_quiet_hours(local: time, start: time | None, end: time | None) -> bool:
    if start is None or end is None or start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end


def call_permitted(
    number: str,
    purpose: Purpose,
    now: datetime,
    *,
    dnc: Iterable[DncMatch] = (),
    consents: Iterable[ConsentMatch] = (),
    history: CallHistory = CallHistory(),
    rules: AnnoyanceRules = DEFAULT_RULES,
    campaign_id: uuid.UUID | None = None,
    zone: tzinfo | None = None,
) -> Verdict:
    """`Verdict.ALLOWED` or the first reason the call to `number` (E.164) must not be placed at `now` (aware)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    listed = listing_verdict(purpose, now, dnc=dnc, consents=consents, campaign_id=campaign_id)
    if listed is not Verdict.ALLOWED:
        return listed
    horizon = now - rules.no_redial_after_abandon
    if any(horizon < at <= now for at in history.abandoned):
        return Verdict.ABANDONED_RECENTLY
    zone = zone or local_zone(number)
    local_now = now.astimezone(zone)
    if in_quiet_hours(local_now.time(), rules.quiet_start, rules.quiet_end):
        return Verdict.QUIET_HOURS
    today = local_now.date()
    week = local_now.isocalendar()[:2]
    local_attempts = [at.astimezone(zone) for at in history.attempts if at <= now]
    if rules.max_per_day is not None and sum(a.date() == today for a in local_attempts) >= rules.max_per_day:
        return Verdict.DAILY_CAP
    if (
        rules.max_per_week is not None
        and sum(a.isocalendar()[:2] == week for a in local_attempts) >= rules.max_per_week
    ):
        return Verdict.WEEKLY_CAP
    return Verdict.ALLOWED
