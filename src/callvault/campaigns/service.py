"""Campaigns: queries and action functions (create, update, approve, start, pause, finish) and the hard stops
the runner applies (budget exhausted, campaign complete).

Life cycle: draft -> approved -> running <-> paused -> finished. When the institution requires four eyes
(``campaigns.four_eyes`` in its settings, on by default) the approver must be neither the creator nor the last
editor. Changing an approved or paused campaign sends it back to draft, unless the change only lowers its lines
or budgets; so raising them ("enlarging") always needs a new approval.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callvault.campaigns.models import Campaign, CampaignBlockedCount, DialAttempt
from callvault.campaigns.schemas import (
    AttemptRead,
    BlockedCount,
    BlockedCounts,
    CampaignCreate,
    CampaignRead,
    CampaignUpdate,
)
from callvault.campaigns.strategy import DialingMode, InstitutionLimits, Status
from callvault.contacts import service as contacts
from callvault.core import clock, outbox
from callvault.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from callvault.core.pagination import paginate
from callvault.core.schemas import Page
from callvault.ivr import service as ivr
from callvault.security import audit
from callvault.security.principal import Principal
from callvault.tenancy import service as tenancy

READ: Final = "campaign.read"
CREATE: Final = "campaign.create"
APPROVE: Final = "campaign.approve"
START: Final = "campaign.start"

LIMIT_FIELDS: Final = ("max_lines", "budget_minutes", "budget_money", "budget_attempts_per_day")
EDITABLE: Final = (Status.DRAFT, Status.APPROVED, Status.PAUSED)
BUDGET_EXHAUSTED: Final = "budget_exhausted"
EVENTS: Final = {
    Status.RUNNING: "campaign.started",
    Status.PAUSED: "campaign.paused",
    Status.FINISHED: "campaign.finished",
}


def limits_of(session: Session) -> InstitutionLimits:
    return InstitutionLimits.from_settings(tenancy.current(session).settings)


def _get(session: Session, campaign_id: uuid.UUID, *, lock: bool = False) -> Campaign:
    stmt = select(Campaign).where(Campaign.id == campaign_id)
    if lock:
        stmt = stmt.with_for_update()
    found = session.scalars(stmt).one_or_none()
    if found is None:
        raise NotFound("no such campaign")
    return found


def read(campaign: Campaign) -> CampaignRead:
    return CampaignRead.model_validate(campaign)


def list_campaigns(
    session: Session, *, actor: Principal, limit: int, cursor: str | None, status: Status | None = None
) -> Page[CampaignRead]:
    actor.require(READ)
    stmt = select(Campaign)
    if status is not None:
        stmt = stmt.where(Campaign.status == status.value)
    return paginate(session, stmt, id_column=Campaign.id, limit=limit, cursor=cursor, to_read=read)


def get_campaign(session: Session, *, actor: Principal, campaign_id: uuid.UUID) -> CampaignRead:
    actor.require(READ)
    return read(_get(session, campaign_id))


def list_attempts(
    session: Session, *, actor: Principal, campaign_id: uuid.UUID, limit: int, cursor: str | None
) -> Page[AttemptRead]:
    actor.require(READ)
    _get(session, campaign_id)
    stmt = select(DialAttempt).where(DialAttempt.campaign_id == campaign_id)
    return paginate(
        session, stmt, id_column=DialAttempt.id, limit=limit, cursor=cursor, to_read=AttemptRead.model_validate
    )


def blocked_counts(session: Session, *, actor: Principal, campaign_id: uuid.UUID) -> BlockedCounts:
    """Every attempt the rules stopped, by reason and by UTC day."""
    actor.require(READ)
    _get(session, campaign_id)
    rows = session.scalars(
        select(CampaignBlockedCount)
        .where(CampaignBlockedCount.campaign_id == campaign_id)
        .order_by(CampaignBlockedCount.day, CampaignBlockedCount.reason)
    ).all()
    by_reason: dict[str, int] = {}
    for r in rows:
        by_reason[r.reason] = by_reason.get(r.reason, 0) + r.count
    return BlockedCounts(
        campaign_id=campaign_id,
        total=sum(by_reason.values()),
        by_reason=by_reason,
        by_day=[BlockedCount(day=r.day, reason=r.reason, count=r.count) for r in rows],
    )


def attempt_count(session: Session, *, campaign_id: uuid.UUID) -> int:
    return int(session.scalar(select(func.count()).where(DialAttempt.campaign_id == campaign_id)) or 0)


def attempt_counts(session: Session, *, actor: Principal, campaign_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Dial attempts per campaign for a page of campaigns, in one grouped query (campaigns without any: 0)."""
    actor.require(READ)
    if not campaign_ids:
        return {}
    rows = session.execute(
        select(DialAttempt.campaign_id, func.count())
        .where(DialAttempt.campaign_id.in_(campaign_ids))
        .group_by(DialAttempt.campaign_id)
    ).all()
    counted = {campaign_id: int(count) for campaign_id, count in rows}
    return {campaign_id: counted.get(campaign_id, 0) for campaign_id in campaign_ids}


# --- validation ------------------------------------------------------------------------------------------------


def _check(session: Session, campaign: Campaign) -> None:
    """Rules across fields, and references into other domains (which must be the caller's own)."""
    if contacts.get_list(session, list_id=campaign.list_id) is None:
        raise InvalidInput.one("list_id", "no such contact list")
    if campaign.dialing_mode == DialingMode.AGENTLESS.value and campaign.ivr_flow_id is None:
        raise InvalidInput.one("ivr_flow_id", "an agentless campaign needs the IVR flow its calls run")
    if campaign.ivr_flow_id is not None:
        try:
            ivr.get_flow(session, flow_id=campaign.ivr_flow_id)
        except NotFound:
            raise InvalidInput.one("ivr_flow_id", "no such IVR flow") from None
    for name in ("starts_at", "ends_at"):
        value: datetime | None = getattr(campaign, name)
        if value is not None and value.tzinfo is None:
            raise InvalidInput.one(name, "must carry a time zone")
    if campaign.starts_at and campaign.ends_at and campaign.ends_at <= campaign.starts_at:
        raise InvalidInput.one("ends_at", "must be after starts_at")
    if (campaign.priority_kind == "none") != (campaign.priority_field is None):
        raise InvalidInput.one("priority_field", "name the custom field exactly when a priority kind is chosen")
    limits = limits_of(session)
    if limits.max_lines is not None and campaign.max_lines > limits.max_lines:
        raise InvalidInput.one("max_lines", f"the institution allows at most {limits.max_lines} lines")


def _approved_limits(campaign: Campaign) -> dict[str, Any]:
    return {name: _plain(getattr(campaign, name)) for name in LIMIT_FIELDS}


def _plain(value: object) -> object:
    return str(value) if isinstance(value, Decimal) else value


def _enlarges(before: dict[str, Any], campaign: Campaign) -> bool:
    """Whether any line or budget limit is higher than approved (None = unlimited, the largest)."""
    for name in LIMIT_FIELDS:
        old, new = before.get(name), getattr(campaign, name)
        if new is None and old is not None:
            return True
        if new is not None and old is not None and Decimal(str(new)) > Decimal(str(old)):
            return True
    return False


def _details(campaign: Campaign, **extra: object) -> dict[str, Any]:
    return {"status": campaign.status, "purpose": campaign.purpose, "mode": campaign.dialing_mode, **extra}


def _emit(session: Session, actor: Principal, name: str, campaign: Campaign, **extra: object) -> None:
    outbox.emit(
        session,
        tenant_slug=actor.tenant_slug,
        name=name,
        payload={"id": str(campaign.id), **_details(campaign, **extra)},
    )


# --- actions ---------------------------------------------------------------------------------------------------


def create_campaign(session: Session, *, actor: Principal, data: CampaignCreate) -> CampaignRead:
    actor.require(CREATE)
    if session.scalars(select(Campaign.id).where(Campaign.name == data.name)).first() is not None:
        raise Conflict("a campaign with this name exists")
    typed = {"budget_money", "starts_at", "ends_at", "list_id", "ivr_flow_id"}
    values = data.model_dump(mode="json", exclude=typed)
    campaign = Campaign(
        **values,
        list_id=data.list_id,
        ivr_flow_id=data.ivr_flow_id,
        budget_money=data.budget_money,
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        status=Status.DRAFT.value,
        created_by=actor.actor,
        edited_by=actor.actor,
        spent_seconds=0,
        spent_money=Decimal(0),
    )
    _check(session, campaign)
    session.add(campaign)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="campaign.create",
        object_type="campaign",
        object_id=campaign.id,
        details=_details(campaign),
    )
    _emit(session, actor, "campaign.created", campaign)
    out = read(campaign)
    session.commit()
    return out


def update_campaign(
    session: Session, *, actor: Principal, campaign_id: uuid.UUID, data: CampaignUpdate
) -> CampaignRead:
    """Change the strategy. An approved or paused campaign goes back to draft unless only limits were lowered."""
    actor.require(CREATE)
    campaign = _get(session, campaign_id, lock=True)
    if campaign.status not in EDITABLE:
        raise Conflict(f"a {campaign.status} campaign cannot be changed; pause it first")
    changes = data.model_dump(exclude_unset=True)
    if not changes:
        return read(campaign)
    renamed = "name" in changes and changes["name"] != campaign.name
    if renamed and session.scalars(select(Campaign.id).where(Campaign.name == changes["name"])).first() is not None:
        raise Conflict("a campaign with this name exists")
    json_values = data.model_dump(mode="json", exclude_unset=True)
    for name, value in changes.items():
        keep_typed = name in ("budget_money", "starts_at", "ends_at", "ivr_flow_id")
        setattr(campaign, name, value if keep_typed else json_values[name])
    _check(session, campaign)
    only_limits = set(changes) <= set(LIMIT_FIELDS)
    reapprove = campaign.status != Status.DRAFT.value and (
        not only_limits or _enlarges(campaign.approved_limits, campaign)
    )
    if reapprove:
        campaign.status = Status.DRAFT.value
        campaign.approved_by = None
        campaign.approved_at = None
    campaign.edited_by = actor.actor
    campaign.updated_at = clock.now()
    details = _details(campaign, changed=sorted(changes), needs_approval=reapprove)
    audit.record(
        session, actor=actor, action="campaign.update", object_type="campaign", object_id=campaign.id, details=details
    )
    _emit(session, actor, "campaign.updated", campaign, changed=sorted(changes), needs_approval=reapprove)
    out = read(campaign)
    session.commit()
    return out


def approve_campaign(session: Session, *, actor: Principal, campaign_id: uuid.UUID) -> CampaignRead:
    actor.require(APPROVE)
    campaign = _get(session, campaign_id, lock=True)
    if campaign.status != Status.DRAFT.value:
        raise Conflict(f"only a draft campaign can be approved; this one is {campaign.status}")
    if limits_of(session).four_eyes and actor.actor in (campaign.created_by, campaign.edited_by):
        raise PermissionDenied("four eyes: the campaign must be approved by someone who did not create or edit it")
    _check(session, campaign)
    campaign.status = Status.APPROVED.value
    campaign.approved_by = actor.actor
    campaign.approved_at = clock.now()
    campaign.approved_limits = _approved_limits(campaign)
    campaign.updated_at = clock.now()
    audit.record(
        session,
        actor=actor,
        action="campaign.approve",
        object_type="campaign",
        object_id=campaign.id,
        details=_details(campaign, limits=campaign.approved_limits),
    )
    _emit(session, actor, "campaign.approved", campaign)
    out = read(campaign)
    session.commit()
    return out


def _transition(
    session: Session,
    *,
    actor: Principal,
    campaign_id: uuid.UUID,
    allowed_from: tuple[Status, ...],
    to: Status,
    action: str,
    reason: str = "",
) -> CampaignRead:
    campaign = _get(session, campaign_id, lock=True)
    if campaign.status not in allowed_from:
        raise Conflict(f"a {campaign.status} campaign cannot be {to.value if to != Status.RUNNING else 'started'}")
    if to is Status.RUNNING:
        if campaign.ends_at is not None and campaign.ends_at <= clock.now():
            raise Conflict("the campaign's end date has passed")
        if campaign.paused_reason == BUDGET_EXHAUSTED and budget_exhausted(campaign):
            raise Conflict("the campaign's budget is spent; raise it (and have it approved again) first")
    campaign.status = to.value
    campaign.paused_reason = reason if to is Status.PAUSED else ""
    campaign.updated_at = clock.now()
    audit.record(
        session,
        actor=actor,
        action=action,
        object_type="campaign",
        object_id=campaign.id,
        details=_details(campaign, reason=reason) if reason else _details(campaign),
    )
    _emit(session, actor, EVENTS[to], campaign, reason=reason)
    out = read(campaign)
    session.commit()
    return out


def start_campaign(session: Session, *, actor: Principal, campaign_id: uuid.UUID) -> CampaignRead:
    actor.require(START)
    return _transition(
        session,
        actor=actor,
        campaign_id=campaign_id,
        allowed_from=(Status.APPROVED, Status.PAUSED),
        to=Status.RUNNING,
        action="campaign.start",
    )


def pause_campaign(
    session: Session, *, actor: Principal, campaign_id: uuid.UUID, reason: str = "manual"
) -> CampaignRead:
    actor.require(START)
    return _transition(
        session,
        actor=actor,
        campaign_id=campaign_id,
        allowed_from=(Status.RUNNING,),
        to=Status.PAUSED,
        action="campaign.pause",
        reason=reason,
    )


def finish_campaign(
    session: Session, *, actor: Principal, campaign_id: uuid.UUID, reason: str = "manual"
) -> CampaignRead:
    actor.require(START)
    return _transition(
        session,
        actor=actor,
        campaign_id=campaign_id,
        allowed_from=(Status.APPROVED, Status.RUNNING, Status.PAUSED),
        to=Status.FINISHED,
        action="campaign.finish",
        reason=reason,
    )


# --- budgets ---------------------------------------------------------------------------------------------------


def budget_usage(campaign: Campaign) -> dict[str, float]:
    """Fraction of each campaign budget used (only budgets that are set)."""
    usage: dict[str, float] = {}
    if campaign.budget_minutes is not None:
        usage["minutes"] = campaign.spent_seconds / 60 / campaign.budget_minutes if campaign.budget_minutes else 1.0
    if campaign.budget_money is not None:
        usage["money"] = float(campaign.spent_money / campaign.budget_money) if campaign.budget_money else 1.0
    return usage


def budget_exhausted(campaign: Campaign) -> bool:
    return any(used >= 1.0 for used in budget_usage(campaign).values())


def institution_usage(session: Session, *, limits: InstitutionLimits, month_start: datetime) -> dict[str, float]:
    """Fraction of the institution's monthly budgets used by all its campaigns."""
    if limits.budget_minutes_per_month is None and limits.budget_money_per_month is None:
        return {}
    seconds, money = session.execute(
        select(
            func.coalesce(func.sum(DialAttempt.billed_seconds), 0), func.coalesce(func.sum(DialAttempt.cost), 0)
        ).where(DialAttempt.created_at >= month_start)
    ).one()
    usage: dict[str, float] = {}
    if limits.budget_minutes_per_month is not None:
        cap = limits.budget_minutes_per_month
        usage["institution_minutes"] = int(seconds) / 60 / cap if cap else 1.0
    if limits.budget_money_per_month is not None:
        cap_money = limits.budget_money_per_month
        usage["institution_money"] = float(Decimal(str(money)) / cap_money) if cap_money else 1.0
    return usage


def alert_thresholds_crossed(
    session: Session,
    *,
    actor: Principal,
    campaign: Campaign,
    usage: dict[str, float],
    thresholds: list[float],
    tag: str,
) -> list[str]:
    """Emit one `campaign.budget_alert` per budget and threshold newly crossed (audited); returns their keys.
    `tag` separates periods (the month for institution budgets) so each alert fires once per period."""
    sent = set(campaign.alerts_sent)
    fired = []
    for budget, used in sorted(usage.items()):
        for threshold in thresholds:
            key = f"{budget}:{threshold:g}:{tag}"
            if used >= threshold and key not in sent:
                fired.append(key)
                details = {"budget": budget, "threshold": threshold, "used": round(used, 4)}
                audit.record(
                    session,
                    actor=actor,
                    action="campaign.budget_alert",
                    object_type="campaign",
                    object_id=campaign.id,
                    details=details,
                )
                _emit(session, actor, "campaign.budget_alert", campaign, **details)
    if fired:
        campaign.alerts_sent = sorted(sent | set(fired))
    return fired


def hard_stop(session: Session, *, actor: Principal, campaign: Campaign, budget: str) -> None:
    """A budget is spent: pause the campaign (audited); a person must raise the budget and resume it."""
    campaign.status = Status.PAUSED.value
    campaign.paused_reason = BUDGET_EXHAUSTED
    campaign.updated_at = clock.now()
    details = _details(campaign, reason=BUDGET_EXHAUSTED, budget=budget)
    audit.record(
        session,
        actor=actor,
        action="campaign.hard_stop",
        object_type="campaign",
        object_id=campaign.id,
        details=details,
    )
    _emit(session, actor, "campaign.hard_stopped", campaign, reason=BUDGET_EXHAUSTED, budget=budget)


def complete(session: Session, *, actor: Principal, campaign: Campaign, reason: str) -> None:
    """The runner found nothing left to dial (or the end date passed): the campaign is finished."""
    campaign.status = Status.FINISHED.value
    campaign.updated_at = clock.now()
    audit.record(
        session,
        actor=actor,
        action="campaign.finish",
        object_type="campaign",
        object_id=campaign.id,
        details=_details(campaign, reason=reason),
    )
    _emit(session, actor, "campaign.finished", campaign, reason=reason)
