"""API shapes of call records: numbers are only ever returned masked; notes are not in lists."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from pydantic import Field

from callvault.core.schemas import ReadModel, StrictInput


class PartyKind(enum.StrEnum):
    CUSTOMER = "customer"
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    IVR = "ivr"


class InteractionStatus(enum.StrEnum):
    OPEN = "open"  # a leg is still up
    ENDED = "ended"  # every leg hung up; wrap-up pending
    CLOSED = "closed"  # disposition recorded


class LegRead(ReadModel):
    id: uuid.UUID
    call_id: str
    party: PartyKind
    direction: str
    agent_id: uuid.UUID | None
    remote_number_masked: str
    local_number_masked: str
    destination_type: str
    destination_prefix: str
    trunk: str
    campaign_id: uuid.UUID | None
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    billable_ms: int
    hold_ms: int
    state: str
    hangup_cause: str
    sip_code: int | None
    monitor_mode: str
    recording_id: uuid.UUID | None


class RecordingRead(ReadModel):
    id: uuid.UUID
    interaction_id: uuid.UUID
    leg_id: uuid.UUID | None
    content_type: str
    duration_ms: int
    size_bytes: int
    sha256: str
    key_version: int
    created_at: datetime


class InteractionSummary(ReadModel):
    id: uuid.UUID
    direction: str
    channel: str
    status: InteractionStatus
    campaign_id: uuid.UUID | None
    queue_id: uuid.UUID | None
    flow_id: uuid.UUID | None
    entry_point: str
    source: str
    source_id: uuid.UUID | None
    purpose: str
    ivr_path: list[str]
    disposition: str
    offered_at: datetime
    queued_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None
    closed_at: datetime | None
    queue_wait_ms: int
    ring_ms: int
    talk_ms: int
    hold_ms: int
    wrap_ms: int
    hangup_cause: str
    has_notes: bool
    created_at: datetime


class InteractionRead(InteractionSummary):
    legs: list[LegRead]
    recordings: list[RecordingRead]


class InteractionOpen(StrictInput):
    direction: str = Field(pattern="^(inbound|outbound)$")
    channel: str = Field(default="voice", max_length=16)
    campaign_id: uuid.UUID | None = None
    queue_id: uuid.UUID | None = None
    flow_id: uuid.UUID | None = None
    entry_point: str = Field(default="", max_length=80)
    # What placed an outbound call ("trigger": source_id is the call request; "campaign": the dial attempt).
    source: str = Field(default="", pattern="^(|trigger|campaign)$")
    source_id: uuid.UUID | None = None
    purpose: str = Field(default="", max_length=24)
    offered_at: datetime | None = None


class InteractionClose(StrictInput):
    disposition: str = Field(min_length=1, max_length=64)
    notes: str = Field(default="", max_length=4000)
    wrap_ms: int | None = Field(default=None, ge=0)
