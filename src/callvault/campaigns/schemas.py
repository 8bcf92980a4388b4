"""API shapes of campaigns, their attempts and blocked counts."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import Field, field_validator

from callvault.campaigns.strategy import CallingWindow, Destinations, DialingMode, Outcome, RetryRule, Status
from callvault.core.schemas import ReadModel, StrictInput
from callvault.dnc.policy import Purpose

PriorityKind = Literal["none", "due_date", "lead_score"]
RetryOutcome = Literal["busy", "no_answer", "machine", "rejected", "failed"]


class _Strategy(StrictInput):
    dialing_mode: DialingMode = DialingMode.PROGRESSIVE
    ivr_flow_id: uuid.UUID | None = Field(default=None, description="agentless campaigns: the flow answered calls run")
    caller_id: str = Field(min_length=3, max_length=40, pattern=r"^\+?[0-9]+$")
    priority_kind: PriorityKind = "none"
    priority_field: str | None = Field(default=None, max_length=60, pattern=r"^[a-z][a-z0-9_]*$")
    retry_rules: dict[RetryOutcome, RetryRule] = Field(default_factory=dict)
    calling_windows: list[CallingWindow] = Field(default_factory=list, max_length=14)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    max_lines: int = Field(default=10, ge=1, le=10_000)
    budget_minutes: int | None = Field(default=None, ge=0, le=1_000_000_000)
    budget_money: Decimal | None = Field(default=None, ge=0, max_digits=14, decimal_places=4)
    budget_attempts_per_day: int | None = Field(default=None, ge=0, le=1_000_000_000)
    alert_thresholds: list[float] = Field(default_factory=lambda: [0.8], max_length=5)
    destinations: Destinations = Field(default_factory=Destinations)

    @field_validator("alert_thresholds")
    @classmethod
    def _fractions(cls, values: list[float]) -> list[float]:
        if any(not 0 < v < 1 for v in values):
            raise ValueError("thresholds are fractions of the budget between 0 and 1, e.g. 0.8")
        return sorted(set(values))


class CampaignCreate(_Strategy):
    name: str = Field(min_length=1, max_length=120)
    purpose: Purpose
    list_id: uuid.UUID


class CampaignUpdate(StrictInput):
    """Fields to change; every field left out stays as it is."""

    name: str | None = Field(default=None, min_length=1, max_length=120)
    dialing_mode: DialingMode | None = None
    ivr_flow_id: uuid.UUID | None = None
    caller_id: str | None = Field(default=None, min_length=3, max_length=40, pattern=r"^\+?[0-9]+$")
    priority_kind: PriorityKind | None = None
    priority_field: str | None = Field(default=None, max_length=60, pattern=r"^[a-z][a-z0-9_]*$")
    retry_rules: dict[RetryOutcome, RetryRule] | None = None
    calling_windows: list[CallingWindow] | None = Field(default=None, max_length=14)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    max_lines: int | None = Field(default=None, ge=1, le=10_000)
    budget_minutes: int | None = Field(default=None, ge=0, le=1_000_000_000)
    budget_money: Decimal | None = Field(default=None, ge=0, max_digits=14, decimal_places=4)
    budget_attempts_per_day: int | None = Field(default=None, ge=0, le=1_000_000_000)
    alert_thresholds: list[float] | None = Field(default=None, max_length=5)
    destinations: Destinations | None = None


class CampaignRead(ReadModel):
    id: uuid.UUID
    name: str
    purpose: Purpose
    list_id: uuid.UUID
    status: Status
    dialing_mode: DialingMode
    ivr_flow_id: uuid.UUID | None
    caller_id: str
    priority_kind: str
    priority_field: str | None
    retry_rules: dict[str, RetryRule]
    calling_windows: list[CallingWindow]
    starts_at: datetime | None
    ends_at: datetime | None
    max_lines: int
    budget_minutes: int | None
    budget_money: Decimal | None
    budget_attempts_per_day: int | None
    alert_thresholds: list[float]
    destinations: Destinations
    created_by: str
    edited_by: str
    approved_by: str | None
    approved_at: datetime | None
    paused_reason: str
    spent_seconds: int
    spent_money: Decimal
    created_at: datetime
    updated_at: datetime


class AttemptRead(ReadModel):
    id: uuid.UUID
    campaign_id: uuid.UUID
    contact_id: uuid.UUID
    attempt_no: int
    phone_position: int
    state: str
    outcome: Outcome | Literal[""]
    abandoned: bool
    keypresses: str
    created_at: datetime
    originated_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None
    billed_seconds: int
    cost: Decimal


class BlockedCount(ReadModel):
    day: str
    reason: str
    count: int


class BlockedCounts(ReadModel):
    campaign_id: uuid.UUID
    total: int
    by_reason: dict[str, int]
    by_day: list[BlockedCount]
