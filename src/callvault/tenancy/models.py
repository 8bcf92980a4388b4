"""The tenants table: one row for the operator (the outsourcing company) and one per institution."""

from __future__ import annotations

import enum
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from callvault.core.models import Base, Identified


class TenantKind(enum.StrEnum):
    OPERATOR = "operator"
    INSTITUTION = "institution"


class TenantStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    # Locked for offboarding: no logins, API clients refused, until its data is destroyed.
    OFFBOARDING = "offboarding"
    OFFBOARDED = "offboarded"


class Tenant(Identified, Base):
    __tablename__ = "tenants"

    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16), default=TenantKind.INSTITUTION.value)
    status: Mapped[str] = mapped_column(String(16), default=TenantStatus.ACTIVE.value)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)

    @property
    def is_operator(self) -> bool:
        return self.kind == TenantKind.OPERATOR.value
