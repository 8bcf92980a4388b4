"""The call request table: one row per ordered call, also the state machine its execution follows.

accepted -> dialling -> completed, or refused (do-not-call, never dialled) / completed with result "failed"
(deadline passed, never dialled). A row leaves ``accepted`` only through a conditional update, so two workers
can never both dial it; a row found in ``dialling`` after its lease ended belonged to a worker that died and
is completed as failed ("interrupted") rather than dialled again.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from callvault.core.models import Base, Identified, TenantScoped


class CallRequest(Identified, TenantScoped, Base):
    __tablename__ = "call_requests"
    __table_args__ = (Index("ix_call_requests_status_created_at", "status", "created_at"),)

    api_client_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("api_clients.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(20))
    reference: Mapped[str] = mapped_column(String(64), default="")
    contact_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    # The number and the variables are customer data: encrypted with the institution's key.
    phone_ct: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    variables_ct: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    flow: Mapped[str | None] = mapped_column(String(80), default=None)
    queue: Mapped[str | None] = mapped_column(String(80), default=None)
    deadline: Mapped[datetime] = mapped_column()
    callback_url: Mapped[str] = mapped_column(String(2000))
    status: Mapped[str] = mapped_column(String(16))
    result: Mapped[str | None] = mapped_column(String(16), default=None)
    reason: Mapped[str] = mapped_column(String(60), default="")
    keypresses_ct: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    dialled_at: Mapped[datetime | None] = mapped_column(default=None)
    answered_at: Mapped[datetime | None] = mapped_column(default=None)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)
    # The call record of the placed call (no foreign key: call records are their own domain, archived apart).
    interaction_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
