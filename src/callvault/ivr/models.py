"""IVR tables: one flow per entry point of an institution, and its numbered versions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, LargeBinary, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from callvault.core.models import Base, Identified, TenantScoped


class IvrFlow(Identified, TenantScoped, Base):
    __tablename__ = "ivr_flows"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name", name="uq_ivr_flows_tenant_name"),
        UniqueConstraint("tenant_id", "entry_point", name="uq_ivr_flows_tenant_entry_point"),
    )

    name: Mapped[str] = mapped_column(String(80))
    entry_point: Mapped[str] = mapped_column(String(80))  # the DID label inbound calls arrive with
    description: Mapped[str] = mapped_column(String(300), default="")


class IvrFlowVersion(Identified, TenantScoped, Base):
    """A numbered version: at most one draft and one published version per flow; published ones retire."""

    __tablename__ = "ivr_flow_versions"
    __table_args__ = (UniqueConstraint("flow_id", "number", name="uq_ivr_flow_versions_flow_number"),)

    flow_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("ivr_flows.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column()
    status: Mapped[str] = mapped_column(String(16))
    document: Mapped[dict[str, Any]] = mapped_column()
    author: Mapped[str] = mapped_column(String(120))
    published_by: Mapped[str | None] = mapped_column(String(120), default=None)
    published_at: Mapped[datetime | None] = mapped_column(default=None)
    rolled_back_from: Mapped[int | None] = mapped_column(default=None)


class IvrLookupKey(Identified, TenantScoped, Base):
    """The institution's key for signing its look-ups: one per institution, the secret sealed at rest."""

    __tablename__ = "ivr_lookup_keys"
    __table_args__ = (UniqueConstraint("tenant_id", name="uq_ivr_lookup_keys_tenant_id"),)

    key_id: Mapped[str] = mapped_column(String(100))
    secret_sealed: Mapped[bytes] = mapped_column(LargeBinary)
