"""Whether one due contact of a campaign may be dialled now, and if not, why and when to look at it again.

The order of the checks is the order of `docs/campaigns.md`: a number at the contact's position, destination
rules, calling window in the callee's time, attempts per day, then the do-not-annoy rules of
`dnc.policy.call_permitted`. A refusal names its reason (counted by the runner) and reschedules or closes the
contact, so the same contact is not counted again at every tick.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, tzinfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callvault.campaigns.models import Campaign, CampaignContact, DialAttempt
from callvault.campaigns.strategy import (
    CallingWindow,
    Destinations,
    InstitutionLimits,
    destination_refusal,
    window_opening,
    zone_named,
)
from callvault.contacts import service as contacts
from callvault.contacts.service import DialTarget
from callvault.dnc import service as dnc
from callvault.dnc.policy import (
    MARKETING_PURPOSES,
    AnnoyanceRules,
    CallHistory,
    Purpose,
    Verdict,
    call_permitted,
    local_zone,
)
from callvault.security.principal import Principal

_HISTORY = timedelta(days=8)  # enough for the weekly cap in any zone


def close(cc: CampaignContact, reason: str) -> None:
    cc.state = "closed"
    cc.closed_reason = reason


def next_phone(cc: CampaignContact, now: datetime, reason: str) -> None:
    """Move on to the contact's next number (the runner closes the contact when there is none)."""
    cc.phone_position += 1
    cc.outcome_counts = {}
    cc.next_due_at = now
    cc.closed_reason = reason


def next_local(now: datetime, zone: tzinfo, at: time) -> datetime:
    """The next time the callee's clock shows `at` (UTC)."""
    local = now.astimezone(zone)
    candidate = datetime.combine(local.date(), at, tzinfo=zone)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), at, tzinfo=zone)
    return candidate.astimezone(UTC)


def attempts_since(session: Session, since: datetime, campaign_id: object | None = None) -> int:
    stmt = select(func.count()).where(DialAttempt.created_at >= since)
    if campaign_id is not None:
        stmt = stmt.where(DialAttempt.campaign_id == campaign_id)
    return int(session.scalar(stmt) or 0)


class ContactGate:
    """The checks for one campaign at one tick (limits and day counts read once)."""

    def __init__(
        self,
        session: Session,
        *,
        actor: Principal,
        campaign: Campaign,
        limits: InstitutionLimits,
        rules: AnnoyanceRules,
        now: datetime,
    ) -> None:
        self.session = session
        self.actor = actor
        self.campaign = campaign
        self.limits = limits
        self.rules = rules
        self.now = now
        self.purpose = Purpose(campaign.purpose)
        self.destinations = Destinations.model_validate(campaign.destinations or {})
        self.windows = [CallingWindow.model_validate(w) for w in campaign.calling_windows]
        self.day_start = datetime.combine(now.astimezone(UTC).date(), time(0), tzinfo=UTC)
        self.today_campaign = attempts_since(session, self.day_start, campaign.id)
        self.today_all = attempts_since(session, self.day_start)

    def dialled(self) -> None:
        self.today_campaign += 1
        self.today_all += 1

    def check(self, cc: CampaignContact) -> DialTarget | str | None:
        """The number to dial; or the blocked reason (the contact rescheduled or closed); or None when the contact
        has no number left (closed, nothing to count)."""
        now = self.now
        target = contacts.dial_target(
            self.session, actor=self.actor, contact_id=cc.contact_id, position=cc.phone_position
        )
        if target is None:
            close(cc, "no_number" if cc.phone_position == 0 else "exhausted")
            return None
        refusal = destination_refusal(self.limits.destinations, e164=target.e164, phone_type=target.type)
        refusal = refusal or destination_refusal(self.destinations, e164=target.e164, phone_type=target.type)
        if refusal is not None:
            next_phone(cc, now, f"destination_{refusal}")
            return f"destination_{refusal}"
        zone = zone_named(target.timezone, local_zone(target.e164))
        opening = window_opening(self.windows, now, zone)
        if opening is None:
            close(cc, "no_calling_window")
            return "outside_calling_window"
        if opening > now:
            cc.next_due_at = opening
            return "outside_calling_window"
        campaign_cap = self.campaign.budget_attempts_per_day
        if (campaign_cap is not None and self.today_campaign >= campaign_cap) or (
            self.limits.attempts_per_day is not None and self.today_all >= self.limits.attempts_per_day
        ):
            cc.next_due_at = self.day_start + timedelta(days=1)
            return "attempts_per_day"
        verdict = self._verdict(target, zone)
        if verdict is not Verdict.ALLOWED:
            self._reschedule(cc, verdict, zone, target.phone_bidx)
            return verdict.value
        return target

    def _verdict(self, target: DialTarget, zone: tzinfo) -> Verdict:
        s, now = self.session, self.now
        recent = s.execute(
            select(DialAttempt.created_at, DialAttempt.abandoned).where(
                DialAttempt.phone_bidx == target.phone_bidx, DialAttempt.created_at > now - _HISTORY
            )
        ).all()
        history = CallHistory(
            attempts=[r.created_at for r in recent], abandoned=[r.created_at for r in recent if r.abandoned]
        )
        consents = dnc.consents_for(s, e164=target.e164) if self.purpose in MARKETING_PURPOSES else []
        return call_permitted(
            target.e164,
            self.purpose,
            now,
            dnc=dnc.matches_for(s, e164=target.e164),
            consents=consents,
            history=history,
            rules=self.rules,
            campaign_id=self.campaign.id,
            zone=zone,
        )

    def _reschedule(self, cc: CampaignContact, verdict: Verdict, zone: tzinfo, bidx: bytes) -> None:
        now, rules = self.now, self.rules
        if verdict in (Verdict.DO_NOT_CALL, Verdict.NO_CONSENT):
            close(cc, verdict.value)
        elif verdict is Verdict.ABANDONED_RECENTLY:
            last = self.session.scalar(
                select(func.max(DialAttempt.created_at)).where(
                    DialAttempt.phone_bidx == bidx, DialAttempt.abandoned.is_(True)
                )
            )
            cc.next_due_at = (last or now) + rules.no_redial_after_abandon
        elif verdict is Verdict.QUIET_HOURS and rules.quiet_end is not None:
            cc.next_due_at = next_local(now, zone, rules.quiet_end)
        else:  # daily or weekly cap: look again at the callee's next midnight
            cc.next_due_at = next_local(now, zone, time(0))
