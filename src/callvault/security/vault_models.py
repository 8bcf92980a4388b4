"""Wrapped tenant keys and the tombstones of destroyed (crypto-shredded) tenants.

These two tables are platform tables, not tenant-scoped (see docs/adr/0007-vault-key-tables.md): the keyring of a
process serves every tenant it handles, the rows hold only keys wrapped by the master key (useless without it),
and a tombstone must outlive the tenant row it describes. Customer rows stay under row-level security.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from callvault.core import clock
from callvault.core.models import Base


class TenantKeyRow(Base):
    """One version of a tenant's data or index key, wrapped (AES-256-GCM) by the master key `kek_id`.

    The foreign key has no cascade on purpose: a tenant row can only be deleted after its keys were destroyed
    through the keyring, which also writes the tombstone.
    """

    __tablename__ = "tenant_keys"

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tenants.id"), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    kek_id: Mapped[str] = mapped_column(String(64))
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class TenantKeyTombstone(Base):
    """Proof that a tenant's keys were destroyed; no foreign key, so it outlives the tenant row."""

    __tablename__ = "tenant_key_tombstones"

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    destroyed_at: Mapped[datetime] = mapped_column(default=clock.now)
    # Which versions existed at destruction time, e.g. "data:1,2;index:1" (no key material).
    versions: Mapped[str] = mapped_column(String(200), default="")
