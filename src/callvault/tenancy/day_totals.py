"""The operator's view of today across institutions: how many calls, agents, campaigns and trigger orders each
institution has, counted by the database inside that institution's own context. Counts only: no customer data,
no ids of calls or contacts.

Each institution's "today" is its local day (`acd.day_report.local_day`: the time zone of its settings, else UTC).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Final

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from callvault.acd.agent_state import AgentState
from callvault.acd.day_report import ENTERED, LocalDay, local_day
from callvault.acd.models import AcdAgentStateChange, AcdRoutingDecision
from callvault.campaigns.models import Campaign
from callvault.campaigns.strategy import Status as CampaignStatus
from callvault.core import clock
from callvault.core.tenant_context import tenant
from callvault.security.principal import Principal
from callvault.tenancy.models import Tenant, TenantKind
from callvault.trigger.models import CallRequest

READ: Final = "tenant.read"  # an operator permission: institutions never hold it
# The columns of the page (catalog message ids).
DAY_COUNTED: Final = ("calls_offered", "calls_answered", "agents_logged_in", "campaigns_running", "trigger_orders")


@dataclass(frozen=True)
class InstitutionDay:
    id: uuid.UUID
    slug: str
    name: str
    status: str
    day: LocalDay
    counts: dict[str, int]


def institutions_today(session: Session, *, actor: Principal) -> list[InstitutionDay]:
    """Every institution with today's counts."""
    actor.require(READ)
    now = clock.now()
    rows = [
        (t.id, t.slug, t.name, t.status, dict(t.settings or {}))
        for t in session.scalars(
            select(Tenant).where(Tenant.kind == TenantKind.INSTITUTION.value).order_by(Tenant.slug)
        )
    ]
    out = []
    for tenant_id, slug, name, status, settings in rows:
        day = local_day(settings, now)
        with tenant(session, tenant_id):
            counts = _counts(session, tenant_id, day)
        out.append(InstitutionDay(tenant_id, slug, name, status, day, counts))
    return out


def _counts(session: Session, tenant_id: uuid.UUID, day: LocalDay) -> dict[str, int]:
    d = AcdRoutingDecision
    calls = session.execute(
        select(
            func.count(func.distinct(case((d.kind.in_(ENTERED), d.call_id)))),
            func.coalesce(func.sum(case((d.kind == "answered", 1), else_=0)), 0),
        ).where(d.tenant_id == tenant_id, d.queue_id.is_not(None), d.at >= day.start, d.at < day.end)
    ).one()
    # An agent is logged in when its latest state change is anything but logged out.
    s = AcdAgentStateChange
    latest = select(func.max(s.seq).label("seq")).where(s.tenant_id == tenant_id).group_by(s.agent_id).subquery()
    agents = session.execute(
        select(func.count())
        .select_from(s)
        .join(latest, latest.c.seq == s.seq)
        .where(s.tenant_id == tenant_id, s.state != AgentState.LOGGED_OUT.value)
    ).scalar_one()
    campaigns = session.execute(
        select(func.count())
        .select_from(Campaign)
        .where(Campaign.tenant_id == tenant_id, Campaign.status == CampaignStatus.RUNNING.value)
    ).scalar_one()
    r = CallRequest
    orders = session.execute(
        select(func.count())
        .select_from(r)
        .where(r.tenant_id == tenant_id, r.created_at >= day.start, r.created_at < day.end)
    ).scalar_one()
    return {
        "calls_offered": int(calls[0]),
        "calls_answered": int(calls[1]),
        "agents_logged_in": int(agents),
        "campaigns_running": int(campaigns),
        "trigger_orders": int(orders),
    }
