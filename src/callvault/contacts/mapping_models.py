"""`import_mappings`: an institution's saved column mapping templates, named and reused for every import."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from callvault.core.models import Base, Identified, TenantScoped


class ImportMapping(Identified, TenantScoped, Base):
    """A named `ColumnMapping` (its JSON form in `mapping`); names are unique per institution."""

    __tablename__ = "import_mappings"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_import_mappings_tenant_name"),)

    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(String(500), default="")
    mapping: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime | None] = mapped_column(default=None)
