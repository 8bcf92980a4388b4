"""Interactions (one per call), their legs (one per party connected to the engine) and recordings.

Numbers are never stored in clear: a leg keeps its far-end number as vault ciphertext plus a blind index (to find
the calls of a number) and, for rating, only the destination's type and a short prefix (country code plus carrier
segment or area code: what a tariff is keyed on, no more than the masked form shows).

Times are stored as UTC instants; durations in whole milliseconds.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, LargeBinary, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from callvault.core.models import Base, Identified, TenantScoped

BLIND_INDEX_BYTES = 32


class Interaction(Identified, TenantScoped, Base):
    """One call of the institution, from the first leg's start to the agent's wrap-up."""

    __tablename__ = "interactions"
    __table_args__ = (
        Index("ix_interactions_tenant_offered_at", "tenant_id", "offered_at"),
        # One record per trigger request / dial attempt, whatever is replayed (NULLs, inbound calls, are distinct).
        UniqueConstraint("tenant_id", "source", "source_id", name="uq_interactions_tenant_source"),
    )

    direction: Mapped[str] = mapped_column(String(8))  # inbound / outbound
    channel: Mapped[str] = mapped_column(String(16), default="voice")
    # open: legs still up; ended: every leg hung up, wrap-up pending; closed: disposition recorded.
    status: Mapped[str] = mapped_column(String(8), default="open")
    # No foreign keys to campaigns/queues/flows: a record outlives the configuration it ran under.
    campaign_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None, index=True)
    queue_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    flow_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    entry_point: Mapped[str] = mapped_column(String(80), default="")
    # What placed an outbound call: "trigger" (source_id: the call request) or "campaign" (the dial attempt);
    # empty for inbound calls and calls placed from the agent desktop. `purpose` is the order's or campaign's.
    source: Mapped[str] = mapped_column(String(16), default="")
    source_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    purpose: Mapped[str] = mapped_column(String(24), default="")
    ivr_path: Mapped[list[str]] = mapped_column(default=list)
    disposition: Mapped[str] = mapped_column(String(64), default="")
    # Free text an agent typed may hold anything the customer said: encrypted, never shown in lists.
    notes_ct: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    offered_at: Mapped[datetime] = mapped_column()
    queued_at: Mapped[datetime | None] = mapped_column(default=None)
    answered_at: Mapped[datetime | None] = mapped_column(default=None)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    queue_wait_ms: Mapped[int] = mapped_column(default=0)
    ring_ms: Mapped[int] = mapped_column(default=0)
    talk_ms: Mapped[int] = mapped_column(default=0)
    hold_ms: Mapped[int] = mapped_column(default=0)
    wrap_ms: Mapped[int] = mapped_column(default=0)
    hangup_cause: Mapped[str] = mapped_column(String(24), default="")


class InteractionLeg(Identified, TenantScoped, Base):
    """One party's connection to the engine within an interaction: what rating prices and reports count."""

    __tablename__ = "interaction_legs"
    __table_args__ = (
        Index("ix_interaction_legs_tenant_remote_bidx", "tenant_id", "remote_number_bidx"),
        Index("ix_interaction_legs_tenant_ended_at", "tenant_id", "ended_at"),
    )

    interaction_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("interactions.id", ondelete="CASCADE"), index=True)
    call_id: Mapped[str] = mapped_column(String(80))  # the engine's leg id
    party: Mapped[str] = mapped_column(String(12))  # customer / agent / supervisor / ivr
    direction: Mapped[str] = mapped_column(String(8))  # inbound / outbound, as the engine saw the leg
    agent_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    # Far-end number (customer's number, agent's extension) and the number we presented or were called on.
    # Nullable: retention may remove them while the row stays for billing.
    remote_number_ct: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    remote_number_bidx: Mapped[bytes | None] = mapped_column(LargeBinary(BLIND_INDEX_BYTES), default=None)
    local_number_ct: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    # --- rating inputs ---
    destination_type: Mapped[str] = mapped_column(String(24), default="")  # PhoneType, international, internal
    destination_prefix: Mapped[str] = mapped_column(String(16), default="")  # e.g. +86138, +8610, +44
    trunk: Mapped[str] = mapped_column(String(64), default="")
    campaign_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    started_at: Mapped[datetime] = mapped_column()
    answered_at: Mapped[datetime | None] = mapped_column(default=None)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    billable_ms: Mapped[int] = mapped_column(default=0)  # answered -> ended, 0 when never answered
    # --- state ---
    state: Mapped[str] = mapped_column(String(12), default="ringing")  # ringing / answered / held / ended
    held_since: Mapped[datetime | None] = mapped_column(default=None)
    hold_ms: Mapped[int] = mapped_column(default=0)
    hangup_cause: Mapped[str] = mapped_column(String(24), default="")
    sip_code: Mapped[int | None] = mapped_column(default=None)
    monitor_mode: Mapped[str] = mapped_column(String(8), default="")  # supervisor legs: listen / whisper / barge
    recording_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)


class Recording(Identified, TenantScoped, Base):
    """An encrypted recording file under the institution's directory and what proves it unchanged."""

    __tablename__ = "recordings"
    # The id is derived from the tenant, the engine's recording id and the WAV's digest (`recording_row_id`), so
    # storing the same finished file again finds the row and path of the first attempt.

    interaction_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("interactions.id", ondelete="CASCADE"), index=True)
    leg_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("interaction_legs.id", ondelete="SET NULL"), default=None
    )
    engine_recording_id: Mapped[str] = mapped_column(String(80))
    content_type: Mapped[str] = mapped_column(String(40), default="audio/wav")
    duration_ms: Mapped[int] = mapped_column(default=0)
    size_bytes: Mapped[int] = mapped_column(BigInteger)  # plaintext (WAV) size
    sha256: Mapped[str] = mapped_column(String(64))  # of the plaintext WAV
    stored_bytes: Mapped[int] = mapped_column(BigInteger)
    stored_sha256: Mapped[str] = mapped_column(String(64))  # of the encrypted file: checked before every playback
    key_version: Mapped[int] = mapped_column()
    storage_path: Mapped[str] = mapped_column(String(500))  # relative to the institution's files directory
