"""Cross-institution totals for the operator console: row counts only, never a customer's data."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Final

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from callvault.core.models import Base
from callvault.core.tenant_context import tenant
from callvault.security.principal import Principal
from callvault.tenancy.models import Tenant, TenantKind

# What the operator may see of an institution: how much of each kind of object it has.
COUNTED: Final = ("users", "contact_lists", "contacts", "imports", "dnc_entries", "ivr_flows", "acd_queues")


@dataclass(frozen=True)
class InstitutionTotals:
    id: uuid.UUID
    slug: str
    name: str
    status: str
    counts: dict[str, int]


def institution_totals(session: Session, *, actor: Principal) -> list[InstitutionTotals]:
    """Every institution with its object counts, each counted inside that institution's own context (so the
    row-level security of PostgreSQL applies as for any other read)."""
    actor.require("tenant.read")
    institutions = list(
        session.scalars(select(Tenant).where(Tenant.kind == TenantKind.INSTITUTION.value).order_by(Tenant.slug))
    )
    tables = {name: Base.metadata.tables[name] for name in COUNTED if name in Base.metadata.tables}
    out = []
    # Plain values first: switching the tenant context drops every loaded object from the session.
    rows = [(inst.id, inst.slug, inst.name, inst.status) for inst in institutions]
    for tenant_id, slug, name, status in rows:
        with tenant(session, tenant_id):
            counts = {table_name: _count(session, table, tenant_id) for table_name, table in tables.items()}
        out.append(InstitutionTotals(id=tenant_id, slug=slug, name=name, status=status, counts=counts))
    return out


def _count(session: Session, table: Table, tenant_id: uuid.UUID) -> int:
    stmt = select(func.count()).select_from(table).where(table.c.tenant_id == tenant_id)
    return int(session.execute(stmt).scalar_one())
