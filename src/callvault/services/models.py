"""Leases: which process runs a loop that must have one runner at a time (an institution's campaign runner)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from callvault.core.models import Base


class ServiceLease(Base):
    """Held by `holder` until `expires_at`; a holder that dies leaves it to expire. Holds no institution data
    (the name carries an institution id at most), so it is a platform table."""

    __tablename__ = "service_leases"

    name: Mapped[str] = mapped_column(String(120), primary_key=True)
    holder: Mapped[str] = mapped_column(String(120))
    expires_at: Mapped[datetime] = mapped_column()
