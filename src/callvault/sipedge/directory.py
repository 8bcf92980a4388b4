"""What the SIP front needs to route and authenticate, read from every active institution in one pass."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from callvault.core.db import Database
from callvault.core.tenant_context import set_tenant
from callvault.sipedge.models import SipDid, SipEndpoint, SipTrunk
from callvault.sipedge.service import open_ha1
from callvault.tenancy.models import Tenant, TenantKind, TenantStatus


@dataclass(frozen=True)
class AgentCredential:
    """An agent phone's address of record is ``username@tenant``; the tenant slug is also the digest realm."""

    tenant: str
    username: str
    ha1: str


@dataclass(frozen=True)
class DidRoute:
    number: str
    tenant: str
    entry_kind: str
    entry: str


@dataclass(frozen=True)
class TrunkRoute:
    tenant: str
    name: str
    direction: str
    peer_host: str
    peer_port: int
    caller_id_rule: str
    caller_id: str


@dataclass(frozen=True)
class Directory:
    agents: tuple[AgentCredential, ...] = ()
    dids: tuple[DidRoute, ...] = ()
    trunks: tuple[TrunkRoute, ...] = ()


def load(db: Database) -> Directory:
    """Every active institution's DIDs, trunks and enabled agent phones (HA1s unsealed for the front's files).

    A suspended or offboarding institution drops out: its numbers answer 404 and its phones cannot register. A
    disabled phone drops out too: its REGISTER is challenged again and again (401) and never stored."""
    agents: list[AgentCredential] = []
    dids: list[DidRoute] = []
    trunks: list[TrunkRoute] = []
    with db.scoped() as session:
        institutions = session.scalars(
            select(Tenant).where(
                Tenant.kind == TenantKind.INSTITUTION.value, Tenant.status == TenantStatus.ACTIVE.value
            )
        ).all()
        slugs = {t.id: t.slug for t in institutions}
        for did in session.scalars(select(SipDid).order_by(SipDid.number)):
            # Unassigned numbers of the inventory (no institution) are left out: they answer 404.
            if did.institution_id in slugs and did.entry_kind and did.entry:
                dids.append(DidRoute(did.number, slugs[did.institution_id], did.entry_kind, did.entry))
        for tenant_id, slug in slugs.items():
            set_tenant(session, tenant_id)
            for trunk in session.scalars(select(SipTrunk).order_by(SipTrunk.name)):
                trunks.append(
                    TrunkRoute(
                        slug,
                        trunk.name,
                        trunk.direction,
                        trunk.peer_host,
                        trunk.peer_port,
                        trunk.caller_id_rule,
                        trunk.caller_id,
                    )
                )
            enabled = select(SipEndpoint).where(SipEndpoint.enabled.is_(True)).order_by(SipEndpoint.username)
            for endpoint in session.scalars(enabled):
                agents.append(AgentCredential(slug, endpoint.username, open_ha1(tenant_id, endpoint)))
            session.rollback()  # read-only: end each tenant's transaction before binding the next
    return Directory(tuple(agents), tuple(dids), tuple(trunks))
