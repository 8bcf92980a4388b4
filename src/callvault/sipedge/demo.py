"""The demo's SIP edge: a DID and an agent phone account for the demo bank, and a running Kamailio front."""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import select

from callvault.core.db import Database
from callvault.identity import service as identity
from callvault.security.principal import system_principal
from callvault.sipedge import service
from callvault.sipedge.front import KamailioFront
from callvault.sipedge.kamailio_cfg import FrontConfig
from callvault.sipedge.models import SipDid, SipEndpoint
from callvault.sipedge.schemas import DidAssign, EndpointCreate, EntryKind
from callvault.tenancy import service as tenancy

DEMO_DID = "+861095500000"
DEMO_PHONE = "agent"
DEMO_AGENT_USER = "agent"


@dataclass(frozen=True)
class DemoPhone:
    institution: str
    username: str
    password: str
    did: str


def seed(db: Database, *, slug: str) -> DemoPhone:
    """Once: the demo DID (to the IVR flow ``main``) and an agent phone; later runs read the credentials file."""
    cred_file = db.settings.data_dir / "demo-sip-phone.json"
    with db.scoped() as session:
        inst = tenancy.bind(session, slug=slug)
        exists = session.scalars(select(SipEndpoint).where(SipEndpoint.username == DEMO_PHONE)).first() is not None
        if exists and cred_file.exists():
            return DemoPhone(**json.loads(cred_file.read_text(encoding="utf-8")))
        actor = system_principal(tenant_id=inst.id, tenant_slug=inst.slug, tenant_kind=inst.kind, name="demo")
        if exists:  # credentials file lost: a new password
            row = session.scalars(select(SipEndpoint).where(SipEndpoint.username == DEMO_PHONE)).one()
            created = service.reset_password(session, actor=actor, endpoint_id=row.id)
        else:
            # The phone of the demo's agent user: the switchboard rings it when the ACD offers that agent a call.
            agent = identity.get_user_by_username(session, username=DEMO_AGENT_USER)
            data = EndpointCreate(username=DEMO_PHONE, user_id=agent.id if agent is not None else None)
            created = service.create_endpoint(session, actor=actor, data=data)
        operator = tenancy.operator_principal(session, name="demo")
        if session.scalars(select(SipDid).where(SipDid.number == DEMO_DID)).first() is None:
            assign = DidAssign(number=DEMO_DID, institution_id=inst.id, entry_kind=EntryKind.IVR, entry="main")
            service.assign_did(session, actor=operator, data=assign)
    phone = DemoPhone(institution=slug, username=DEMO_PHONE, password=created.password, did=DEMO_DID)
    from callvault.demo import _write_private

    _write_private(cred_file, json.dumps(phone.__dict__))
    return phone


def start_front(db: Database, *, address: str, port: int, worker: str) -> KamailioFront:
    front = KamailioFront(
        FrontConfig(address=address, port=port, workers=(worker,), run_dir=(db.settings.data_dir / "sip-front")),
        db,
    )
    front.start()
    return front
