"""Job rows of exports and offboardings. Platform tables: they outlive the institution's own rows, so the
operator can still prove what was handed back and destroyed."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from callvault.core.models import Base, Identified


class TenantExport(Identified, Base):
    """One hand-back export run (resumed runs into the same directory update the same row)."""

    __tablename__ = "tenant_exports"

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    out_dir: Mapped[str] = mapped_column(String(1000))
    started_at: Mapped[datetime]
    completed_at: Mapped[datetime | None] = mapped_column(default=None)
    files: Mapped[int] = mapped_column(default=0)
    rows: Mapped[int] = mapped_column(BigInteger, default=0)
    manifest_sha256: Mapped[str] = mapped_column(String(64), default="")


class TenantOffboarding(Identified, Base):
    """The offboarding job of one institution: which steps are done, and what each one destroyed."""

    __tablename__ = "tenant_offboardings"
    __table_args__ = (UniqueConstraint("tenant_id", name="uq_tenant_offboardings_tenant"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tenants.id", ondelete="CASCADE"))
    tenant_slug: Mapped[str] = mapped_column(String(40))
    # locked -> keys_destroyed -> rows_deleted -> files_deleted -> numbers_released -> completed
    # (see offboarding.offboard.Step)
    step: Mapped[str] = mapped_column(String(20))
    export_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    without_export: Mapped[bool] = mapped_column(default=False)
    started_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    completed_at: Mapped[datetime | None] = mapped_column(default=None)
    keys_destroyed_at: Mapped[datetime | None] = mapped_column(default=None)
    key_versions: Mapped[dict[str, Any]] = mapped_column(default=dict)
    rows_deleted: Mapped[dict[str, Any]] = mapped_column(default=dict)
    files_deleted: Mapped[int] = mapped_column(default=0)
    # DIDs handed back to the operator's inventory (set once, in the same commit as the step)
    numbers_released: Mapped[int] = mapped_column(default=0)
    certificate: Mapped[str] = mapped_column(Text, default="")
