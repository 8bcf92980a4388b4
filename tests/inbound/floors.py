"""An institution's floor for the inbound tests: queue `cards`, agents with SIP phones, the published flow `main`
and a DID; and readers of what the calls left in the database."""

from __future__ import annotations

import functools
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from callvault.acd import service as acd
from callvault.acd.agent_state import AgentState
from callvault.acd.models import AcdRoutingDecision
from callvault.acd.owner import AcdOwners, TenantOwner
from callvault.acd.router import Router
from callvault.acd.schemas import AgentSkillsSet, QueueCreate
from callvault.core.db import Database
from callvault.core.tenant_context import set_tenant
from callvault.interactions.models import Interaction, InteractionLeg
from callvault.ivr import service as ivr
from callvault.ivr.flow import parse_document
from callvault.ivr.schemas import FlowCreate
from callvault.security.principal import Principal, system_principal
from callvault.sipedge import service as sipedge
from callvault.sipedge.schemas import DidAssign, EndpointCreate, EntryKind
from callvault.tenancy import service as tenancy
from tests.fixtures import Account, World

S = AgentState
FLOW = {
    "start": "menu",
    "nodes": {
        "menu": {
            "type": "menu",
            "prompt": {"say": "信用卡请按一。"},
            "options": {"1": "to_cards"},
            "timeout": 3,
            "retries": 1,
            "on_invalid": "bye",
        },
        "to_cards": {"type": "queue", "queue": "cards", "prompt": {"say": "正在为您转接。"}},
        "bye": {"type": "hangup", "prompt": {"say": "再见。"}},
    },
}


def new_did() -> str:
    return f"+86108{random.randrange(10**7):07d}"


@dataclass
class Floor:
    tenant_id: uuid.UUID
    slug: str
    actor: Principal
    owner: TenantOwner
    queue_id: uuid.UUID  # cards
    queues: dict[str, uuid.UUID] = field(default_factory=dict)
    agents: dict[str, uuid.UUID] = field(default_factory=dict)  # phone username -> agent (user) id
    passwords: dict[str, str] = field(default_factory=dict)  # phone username -> its SIP password
    accounts: dict[str, Account] = field(default_factory=dict)  # phone username -> the agent's sign-in
    did: str = ""


def floor(
    db: Database,
    world: World,
    owners: AcdOwners,
    *,
    phones: dict[str, bool],
    entry: str = "ivr",
    skills: dict[str, dict[str, int]] | None = None,
) -> Floor:
    """An institution with queues `cards` and `loans` (each requiring its own skill), one agent seat per entry of
    `phones` (True: with a SIP phone; skills `{"cards": 3}` unless `skills` names them), the published flow `main`
    and a DID leading to it (or straight to queue `cards`)."""
    bank = world.institution(roles=())
    with db.scoped() as session:
        inst = tenancy.bind(session, slug=bank.slug)
        actor = system_principal(tenant_id=inst.id, tenant_slug=inst.slug, tenant_kind=inst.kind)
        owner = owners.of(inst.id, inst.slug, session=session)
        queues = {
            name: owner.run(
                functools.partial(_queue, session, actor, QueueCreate(name=name, requirements={name: 1})),
                configures=True,
            ).id
            for name in ("cards", "loans")
        }
        flow = ivr.create_flow(session, actor=actor, data=FlowCreate(name="main", entry_point="main"))
        ivr.save_draft(session, actor=actor, flow_id=flow.id, document=parse_document(FLOW))
        ivr.publish(session, actor=actor, flow_id=flow.id, prompt_exists=lambda _: True)
    result = Floor(inst.id, bank.slug, actor, owner, queues["cards"], queues)
    for username, has_phone in phones.items():
        account = world.user(bank.slug, role="agent", username=f"{username}-{uuid.uuid4().hex[:6]}")
        with db.scoped() as session:
            set_tenant(session, inst.id)
            seat = AgentSkillsSet(skills=(skills or {}).get(username, {"cards": 3}))
            owner.run(functools.partial(_seat, session, actor, account.user_id, seat), configures=True)
            if has_phone:
                phone = sipedge.create_endpoint(
                    session, actor=actor, data=EndpointCreate(username=username, user_id=account.user_id)
                )
                result.passwords[username] = phone.password
        result.agents[username] = account.user_id
        result.accounts[username] = account
    result.did = new_did()
    kind, name = (EntryKind.IVR, "main") if entry == "ivr" else (EntryKind.QUEUE, "cards")
    with db.scoped() as session:
        operator = tenancy.operator_principal(session)
        assignment = DidAssign(number=result.did, institution_id=inst.id, entry_kind=kind, entry=name)
        sipedge.assign_did(session, actor=operator, data=assignment)
    return result


def _queue(session: Session, actor: Principal, data: QueueCreate, r: Router, _: float) -> Any:
    return acd.create_queue(session, actor=actor, data=data, router=r)


def _seat(session: Session, actor: Principal, agent_id: uuid.UUID, skills: AgentSkillsSet, r: Router, _: float) -> None:
    acd.set_agent_skills(session, actor=actor, agent_id=agent_id, data=skills, router=r)


def ready(db: Database, f: Floor, agent_id: uuid.UUID) -> None:
    with db.scoped() as session:
        set_tenant(session, f.tenant_id)
        f.owner.change_state(session, actor=f.actor, agent_id=agent_id, state=S.READY, reason="")


def interactions(db: Database, tenant_id: uuid.UUID) -> list[tuple[Interaction, list[InteractionLeg]]]:
    with db.scoped() as session:
        set_tenant(session, tenant_id)
        rows = session.scalars(select(Interaction).order_by(Interaction.offered_at)).all()
        out = []
        for row in rows:
            legs = session.scalars(select(InteractionLeg).where(InteractionLeg.interaction_id == row.id)).all()
            # The caller's leg first, then the agents' legs in the order they were rung.
            out.append((row, sorted(legs, key=lambda leg: (leg.party != "customer", leg.started_at))))
        session.expunge_all()
        return out


def decisions(db: Database, tenant_id: uuid.UUID) -> list[str]:
    with db.scoped() as session:
        set_tenant(session, tenant_id)
        return list(session.scalars(select(AcdRoutingDecision.kind).order_by(AcdRoutingDecision.seq)).all())
