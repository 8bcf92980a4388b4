"""Declarative base and the mixins that mark a table as tenant-owned or platform-wide."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, MetaData, Uuid
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column
from sqlalchemy.types import TypeDecorator

from callvault.core import clock
from callvault.core.ids import new_id

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware UTC datetimes; SQLite hands back naive values, so tag them UTC on the way out."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return clock.as_utc(value) if value is not None else None


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[str]: JSON()}


class Identified:
    """A UUIDv7 primary key (time-ordered, so id order is creation order) and a creation time."""

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class TenantScoped:
    """Marks a tenant-owned table: the ORM adds the tenant criterion to every query touching it, and on
    PostgreSQL a forced row-level security policy enforces the same for anything that slips past the ORM."""

    @declared_attr
    def tenant_id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), index=True, nullable=False)


# Tables that hold no institution data and are deliberately not tenant-scoped. A schema test fails for any
# table that is neither tenant-scoped nor listed here.
# Wrapped keys and key tombstones: see docs/adr/0007-vault-key-tables.md. The offboarding job tables name a tenant but
# must outlive its rows: they prove what was handed back and destroyed.
PLATFORM_TABLES = frozenset(
    {
        "tenants",
        "auth_sessions",
        "alembic_version",
        "tenant_keys",
        "tenant_key_tombstones",
        "tenant_exports",
        "tenant_offboardings",
    }
)
# The operator's global do-not-call list binds every institution, so every tenant must read it; it holds numbers
# only as blind indexes under the operator's index key and as ciphertext under the operator's data key.
PLATFORM_TABLES = PLATFORM_TABLES | {"dnc_global_entries"}
# The operator's DID inventory: each number names the one institution it is assigned to, and the SIP front reads
# every assignment to route calls; it holds the institutions' own published numbers, no customer data.
PLATFORM_TABLES = PLATFORM_TABLES | {"sip_dids"}
# Leases name a loop (and at most an institution id) and the process holding it: no institution data.
PLATFORM_TABLES = PLATFORM_TABLES | {"service_leases"}
