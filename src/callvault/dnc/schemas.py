"""API shapes of do-not-call entries and consent records: phones go in full, come out masked."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from callvault.core.schemas import ReadModel, StrictInput
from callvault.dnc.policy import DncScope, Purpose


class DncCreate(StrictInput):
    phone: str = Field(min_length=3, max_length=40, description="the number as typed; normalised to E.164")
    scope: DncScope = DncScope.INSTITUTION
    campaign_id: uuid.UUID | None = None
    all_purposes: bool = Field(default=False, description="false: a refusal of marketing; true: no calls at all")
    reason: str = Field(default="", max_length=200)
    source: str = Field(default="manual", min_length=1, max_length=40)
    expires_at: datetime | None = None


class DncRead(ReadModel):
    id: uuid.UUID
    scope: DncScope
    campaign_id: uuid.UUID | None
    phone_masked: str
    all_purposes: bool
    reason: str
    source: str
    added_by: str
    expires_at: datetime | None
    created_at: datetime


class ConsentCreate(StrictInput):
    phone: str = Field(min_length=3, max_length=40)
    purpose: Purpose = Purpose.MARKETING
    granted_at: datetime
    expires_at: datetime | None = None
    channel: str = Field(min_length=1, max_length=40, description="web_form, recorded_call, signed_paper...")
    evidence_ref: str = Field(min_length=1, max_length=200, description="call id or document reference")


class ConsentRead(ReadModel):
    id: uuid.UUID
    purpose: Purpose
    phone_masked: str
    granted_at: datetime
    expires_at: datetime | None
    withdrawn_at: datetime | None
    channel: str
    evidence_ref: str
    recorded_by: str
    created_at: datetime
