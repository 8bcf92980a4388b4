"""Where an inbound call goes, and which phone an agent answers on.

Through the SIP front the INVITE already names the institution and the entry point (`CallOffered.tenant` and
`.entry`, set by Kamailio from the DID table). A call that reaches the engine directly (the simulated engine, a
worker without a front) is routed by its called number in the same table. Either way only an active
institution's calls are taken, as the front does.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Final

from sqlalchemy import select

from callvault.core.db import Database
from callvault.core.tenant_context import set_tenant
from callvault.sipedge.models import SipDid, SipEndpoint
from callvault.tenancy import service as tenancy
from callvault.tenancy.models import TenantStatus

ENTRY_KINDS: Final = frozenset({"ivr", "queue"})
_USER_PART = re.compile(r"^(?:sips?:|tel:)?([^@;]+)")


@dataclass(frozen=True)
class Route:
    tenant_id: uuid.UUID
    tenant_slug: str
    entry_kind: str  # ivr | queue
    entry: str  # flow entry point or queue name


def called_number(to_uri: str) -> str:
    """The user part of the request URI (`sip:+8610...@host` -> `+8610...`)."""
    found = _USER_PART.match(to_uri.strip().strip("<>"))
    return found.group(1) if found else ""


def _entry(value: str | None) -> tuple[str, str] | None:
    kind, _, name = (value or "").partition(":")
    return (kind, name) if kind in ENTRY_KINDS and name else None


def route_of(db: Database, *, tenant: str | None, entry: str | None, to_uri: str) -> Route | None:
    """The institution and entry point of an offered call; None for a number of no active institution."""
    with db.scoped() as session:
        if tenant is not None:
            named = _entry(entry)
            inst = tenancy.get_by_slug(session, slug=tenant)
            if named is None or inst is None or inst.status != TenantStatus.ACTIVE.value or inst.is_operator:
                return None
            return Route(inst.id, inst.slug, *named)
        number = called_number(to_uri)
        did = session.scalars(select(SipDid).where(SipDid.number == number)).first() if number else None
        if did is None or did.institution_id is None:
            return None
        named = _entry(f"{did.entry_kind}:{did.entry}")
        found = tenancy.get(session, tenant_id=did.institution_id)
        if named is None or found.status != TenantStatus.ACTIVE.value:
            return None
        return Route(found.id, found.slug, *named)


def station_of(db: Database, *, tenant_id: uuid.UUID, agent_id: uuid.UUID) -> str | None:
    """The username of the agent's enabled SIP phone (the first one made), if the agent has one."""
    with db.scoped() as session:
        set_tenant(session, tenant_id)
        stmt = (
            select(SipEndpoint.username)
            .where(SipEndpoint.user_id == agent_id, SipEndpoint.enabled.is_(True))
            .order_by(SipEndpoint.created_at)
        )
        return session.scalars(stmt).first()
