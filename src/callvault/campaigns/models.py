"""Campaign tables: campaigns with their strategy and budget, per-contact progress, dial attempts, blocked counts.

A dial attempt row is written (state ``planned``) and committed *before* the engine is asked to originate, so a
crash can never leave a dial without its row; the runner reconciles open rows on start. Numbers are kept only as
the contact phone's blind index (for the cross-campaign caps and the no-redial rule), never in clear.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, LargeBinary, Numeric, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from callvault.core import clock
from callvault.core.models import Base, Identified, TenantScoped

MONEY = Numeric(14, 4)
BLIND_INDEX_BYTES = 32


class Campaign(Identified, TenantScoped, Base):
    __tablename__ = "campaigns"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_campaigns_tenant_name"),)

    name: Mapped[str] = mapped_column(String(120))
    purpose: Mapped[str] = mapped_column(String(24))
    list_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("contact_lists.id", ondelete="RESTRICT"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    dialing_mode: Mapped[str] = mapped_column(String(16))
    # Agentless campaigns: the IVR flow the answered call is handed to (keypresses are captured on the attempt).
    ivr_flow_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    caller_id: Mapped[str] = mapped_column(String(40))
    priority_field: Mapped[str | None] = mapped_column(String(60), default=None)
    priority_kind: Mapped[str] = mapped_column(String(16), default="none")
    retry_rules: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    calling_windows: Mapped[list[Any]] = mapped_column(JSON, default=list)
    starts_at: Mapped[datetime | None] = mapped_column(default=None)
    ends_at: Mapped[datetime | None] = mapped_column(default=None)
    max_lines: Mapped[int] = mapped_column(Integer, default=10)
    budget_minutes: Mapped[int | None] = mapped_column(Integer, default=None)
    budget_money: Mapped[Decimal | None] = mapped_column(MONEY, default=None)
    budget_attempts_per_day: Mapped[int | None] = mapped_column(Integer, default=None)
    alert_thresholds: Mapped[list[Any]] = mapped_column(JSON, default=list)
    destinations: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by: Mapped[str] = mapped_column(String(200))
    # Who last changed the strategy: under four eyes neither they nor the creator may approve it.
    edited_by: Mapped[str] = mapped_column(String(200))
    approved_by: Mapped[str | None] = mapped_column(String(200), default=None)
    approved_at: Mapped[datetime | None] = mapped_column(default=None)
    # Lines and budgets as approved: raising any of them ("enlarging") sends the campaign back for approval.
    approved_limits: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    paused_reason: Mapped[str] = mapped_column(String(60), default="")
    spent_seconds: Mapped[int] = mapped_column(Integer, default=0)
    spent_money: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(0))
    alerts_sent: Mapped[list[Any]] = mapped_column(JSON, default=list)
    materialised: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)


class CampaignContact(Identified, TenantScoped, Base):
    """One contact's progress in one campaign: what is due when, and how many attempts each outcome had."""

    __tablename__ = "campaign_contacts"
    __table_args__ = (
        UniqueConstraint("campaign_id", "contact_id", name="uq_campaign_contacts_campaign_contact"),
        Index("ix_campaign_contacts_due", "campaign_id", "state", "next_due_at"),
    )

    campaign_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("campaigns.id", ondelete="CASCADE"))
    contact_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("contacts.id", ondelete="CASCADE"))
    # pending (due at next_due_at), dialing (an attempt is open), done (reached), closed (exhausted or blocked).
    state: Mapped[str] = mapped_column(String(16), default="pending")
    next_due_at: Mapped[datetime] = mapped_column(default=clock.now)
    priority_rank: Mapped[float] = mapped_column(default=0.0)
    phone_position: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    outcome_counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    last_outcome: Mapped[str] = mapped_column(String(20), default="")
    closed_reason: Mapped[str] = mapped_column(String(40), default="")


class DialAttempt(Identified, TenantScoped, Base):
    """One dial. ``state``: planned (row committed, originate not yet confirmed), dialing, ended, interrupted."""

    __tablename__ = "dial_attempts"
    __table_args__ = (
        UniqueConstraint("campaign_contact_id", "attempt_no", name="uq_dial_attempts_contact_attempt"),
        Index("ix_dial_attempts_campaign_state", "campaign_id", "state"),
        Index("ix_dial_attempts_tenant_phone", "tenant_id", "phone_bidx", "created_at"),
    )

    campaign_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("campaigns.id", ondelete="CASCADE"))
    campaign_contact_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("campaign_contacts.id", ondelete="CASCADE"))
    contact_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    attempt_no: Mapped[int] = mapped_column(Integer)
    phone_position: Mapped[int] = mapped_column(Integer)
    phone_bidx: Mapped[bytes] = mapped_column(LargeBinary(BLIND_INDEX_BYTES))
    state: Mapped[str] = mapped_column(String(16), default="planned")
    call_ref: Mapped[str | None] = mapped_column(String(120), default=None)
    originated_at: Mapped[datetime | None] = mapped_column(default=None)
    answered_at: Mapped[datetime | None] = mapped_column(default=None)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    outcome: Mapped[str] = mapped_column(String(20), default="")
    abandoned: Mapped[bool] = mapped_column(default=False)
    agent_ref: Mapped[str | None] = mapped_column(String(120), default=None)
    keypresses: Mapped[str] = mapped_column(String(40), default="")
    billed_seconds: Mapped[int] = mapped_column(Integer, default=0)
    cost: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(0))
    # The call record of the dial (no foreign key: call records are their own domain, archived apart).
    interaction_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)


class CampaignBlockedCount(TenantScoped, Base):
    """How many attempts each reason stopped, per campaign and UTC day (do-not-call, quiet hours, budget...)."""

    __tablename__ = "campaign_blocked_counts"

    campaign_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    reason: Mapped[str] = mapped_column(String(40), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
