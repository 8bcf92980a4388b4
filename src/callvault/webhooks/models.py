"""Webhook tables: each API client's signing secret and every delivery with its state."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from callvault.core.models import Base, Identified, TenantScoped


class WebhookSecret(Identified, TenantScoped, Base):
    """The secret an API client's webhooks are signed with (``whsec_...``), sealed at rest; one per client."""

    __tablename__ = "webhook_secrets"
    __table_args__ = (UniqueConstraint("api_client_id", name="uq_webhook_secrets_api_client_id"),)

    api_client_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("api_clients.id", ondelete="CASCADE"))
    secret_sealed: Mapped[bytes] = mapped_column(LargeBinary)


class WebhookDelivery(Identified, TenantScoped, Base):
    """One message to one URL. The id is the ``webhook-id`` (stable over retries: receivers dedupe on it).

    ``status``: pending (due at ``next_attempt_at``), delivered, or dead (the dead-letter list). A sender claims a
    pending row by moving ``next_attempt_at`` past its send timeout before sending, so a crash mid-send only delays
    the next attempt; nothing is lost, and the receiver may see the same id twice (at-least-once)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),)

    api_client_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("api_clients.id", ondelete="CASCADE"))
    event_type: Mapped[str] = mapped_column(String(60))
    url: Mapped[str] = mapped_column(String(2000))
    # The exact body sent (customer data such as keypresses): encrypted with the institution's key.
    body_ct: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column()
    last_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    last_status_code: Mapped[int | None] = mapped_column(default=None)
    last_error: Mapped[str] = mapped_column(String(200), default="")
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)
    dead_at: Mapped[datetime | None] = mapped_column(default=None)
