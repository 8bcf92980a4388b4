"""The demo's contact-center floor per institution: pause reasons, two skill queues, agent seats, the inbound
`main` IVR flow, a small care list imported through the real import pipeline and a campaign on it.

Every object goes through its domain's action function (row, audit record, event) and is created only when
missing, so `callvault demo` can run again without creating anything twice.
"""

from __future__ import annotations

import csv
import secrets
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from callvault.acd import service as acd
from callvault.acd.schemas import AgentSkillsSet, PauseReasonCreate, QueueCreate
from callvault.campaigns import service as campaigns
from callvault.campaigns.models import Campaign
from callvault.campaigns.schemas import CampaignCreate
from callvault.contacts import import_service
from callvault.core.db import Database
from callvault.dnc.policy import Purpose
from callvault.identity import service as identity
from callvault.identity.models import Role
from callvault.identity.schemas import UserCreate
from callvault.ivr import service as ivr
from callvault.ivr.flow import parse_document
from callvault.ivr.models import IvrFlow
from callvault.ivr.schemas import FlowCreate
from callvault.security.principal import Principal, system_principal
from callvault.tenancy import service as tenancy

# The simulated agents the load generator drives; the demo's own `agent` user stays free for a person.
LOAD_AGENT_PREFIX: Final = "sim-agent-"
LOAD_AGENTS: Final = 3
MAIN_FLOW: Final = "main"  # the entry point the demo DID routes to (`ivr:main`)
CARE_LIST: Final = "关怀回访名单 (Care list)"
CARE_CONTACTS: Final = 20
PAUSE_REASONS: Final = (("break", "休息 (Break)"), ("training", "培训 (Training)"), ("lunch", "午餐 (Lunch)"))


@dataclass(frozen=True)
class QueuePlan:
    name: str
    skill: str
    key: str  # the IVR menu key that leads to it


@dataclass(frozen=True)
class FloorPlan:
    """What one institution's floor looks like: its queues, each agent's skills, its campaign."""

    queues: tuple[QueuePlan, QueuePlan]
    campaign: str
    caller_id: str

    def skills(self, username: str) -> dict[str, int]:
        """Proficiencies 1..10: the person at the demo desk takes both queues; the simulated agents differ, so
        each queue has a specialist and skill-based routing shows on the wallboard."""
        first, second = self.queues[0].skill, self.queues[1].skill
        return {
            "agent": {first: 6, second: 6},
            f"{LOAD_AGENT_PREFIX}1": {first: 8, second: 3},
            f"{LOAD_AGENT_PREFIX}2": {first: 5},
            f"{LOAD_AGENT_PREFIX}3": {second: 7},
        }.get(username, {first: 4, second: 4})


BANK = FloorPlan(
    queues=(QueuePlan("信用卡 (Cards)", "cards", "1"), QueuePlan("个人贷款 (Loans)", "loans", "2")),
    campaign="信用卡关怀回访 (Card care follow-up)",
    caller_id="+861095500000",
)
INSURER = FloorPlan(
    queues=(QueuePlan("理赔 (Claims)", "claims", "1"), QueuePlan("保单服务 (Policies)", "policies", "2")),
    campaign="保单关怀回访 (Policy care follow-up)",
    caller_id="+861095500001",
)


@dataclass
class FloorSummary:
    """What the floor of one institution holds after seeding (`created`: what this run added)."""

    institution: str
    queues: list[str]
    flow: str
    list_name: str
    contacts: int
    campaign: str
    campaign_status: str
    agents: list[str]
    created: list[str] = field(default_factory=list)


def main_flow(plan: FloorPlan) -> dict[str, Any]:
    """Menu → queue: one key per queue; silence or a wrong key goes to the first queue."""
    first, second = plan.queues
    return {
        "start": "menu",
        "nodes": {
            "menu": {
                "type": "menu",
                "prompt": {
                    "say": f"{first.name.split(' ')[0]}请按{first.key}。{second.name.split(' ')[0]}请按{second.key}。"
                },
                "options": {first.key: "to_first", second.key: "to_second"},
                "timeout": 5,
                "retries": 1,
                "on_invalid": "to_first",
            },
            "to_first": {"type": "queue", "queue": first.name, "prompt": {"say": "正在为您转接。"}},
            "to_second": {"type": "queue", "queue": second.name, "prompt": {"say": "正在为您转接。"}},
        },
    }


def care_rows(count: int = CARE_CONTACTS) -> list[tuple[str, str]]:
    """Synthetic customers: 138 0013 80xx is the well-known test range of Chinese mobile numbers, never a real
    customer, yet a valid mobile number for the import's validation."""
    return [(f"示范客户{i + 1:02d}", f"138001380{i:02d}") for i in range(count)]


def seed_floor(db: Database, *, slug: str, plan: FloorPlan) -> FloorSummary:
    """Seed (once) the floor of the institution `slug`: see the module docstring."""
    created: list[str] = []
    with db.scoped() as session:
        inst = tenancy.bind(session, slug=slug)
        actor = system_principal(tenant_id=inst.id, tenant_slug=inst.slug, tenant_kind=inst.kind, name="demo")
        _pause_reasons(session, actor, created)
        _queues(session, actor, plan, created)
        agents = _agents(session, actor, plan, created)
        _flow(session, actor, plan, created)
    list_id, contacts = _care_list(db, actor, created)
    with db.scoped() as session:
        tenancy.bind(session, slug=slug)
        campaign = _campaign(session, actor, plan, list_id, created)
    return FloorSummary(
        institution=slug,
        queues=[q.name for q in plan.queues],
        flow=MAIN_FLOW,
        list_name=CARE_LIST,
        contacts=contacts,
        campaign=plan.campaign,
        campaign_status=campaign.status,
        agents=agents,
        created=created,
    )


def _pause_reasons(session: Session, actor: Principal, created: list[str]) -> None:
    known = {r.code for r in acd.list_pause_reasons(session)}
    for code, label in PAUSE_REASONS:
        if code not in known:
            acd.create_pause_reason(session, actor=actor, data=PauseReasonCreate(code=code, label=label))
            created.append(f"pause reason {code}")


def _queues(session: Session, actor: Principal, plan: FloorPlan, created: list[str]) -> None:
    known = {q.name for q in acd.list_queues(session)}
    for q in plan.queues:
        if q.name in known:
            continue
        # A short wrap-up limit: the wallboard shows agents coming back on their own when nobody closes it.
        data = QueueCreate(
            name=q.name, requirements={q.skill: 1}, service_level_seconds=20, wrap_up_seconds=30, max_wait_seconds=300
        )
        acd.create_queue(session, actor=actor, data=data)
        created.append(f"queue {q.skill}")


def _agents(session: Session, actor: Principal, plan: FloorPlan, created: list[str]) -> list[str]:
    """Seats with skills for the demo agent and the simulated agents (created as agent users when missing)."""
    agent_role = session.scalars(select(Role).where(Role.name == "agent")).one()
    names = ["agent", *(f"{LOAD_AGENT_PREFIX}{i}" for i in range(1, LOAD_AGENTS + 1))]
    seats = {a.id for a in acd.list_agents(session)}
    for username in names:
        user = identity.get_user_by_username(session, username=username)
        if user is None:
            if not username.startswith(LOAD_AGENT_PREFIX):
                continue  # the demo's own users come from `demo.seed`
            # Nobody signs in as a simulated agent: its password is thrown away.
            data = UserCreate(
                username=username,
                display_name=f"模拟坐席 {username[len(LOAD_AGENT_PREFIX) :]} (Simulated agent)",
                password="Sim-" + secrets.token_urlsafe(18) + "7",
                role_ids=[agent_role.id],
            )
            user_id = identity.create_user(session, actor=actor, data=data).id
            created.append(f"user {username}")
        else:
            user_id = user.id
        if user_id not in seats:
            skills = AgentSkillsSet(display_name=username, skills=plan.skills(username))
            acd.set_agent_skills(session, actor=actor, agent_id=user_id, data=skills)
            created.append(f"seat {username}")
    return names


def _flow(session: Session, actor: Principal, plan: FloorPlan, created: list[str]) -> None:
    if ivr.published_flow(session, entry_point=MAIN_FLOW) is not None:
        return
    # A flow at the entry point without a published version (an earlier run cut short) gets its draft now.
    existing = session.scalars(select(IvrFlow.id).where(IvrFlow.entry_point == MAIN_FLOW)).first()
    flow_id = (
        existing or ivr.create_flow(session, actor=actor, data=FlowCreate(name=MAIN_FLOW, entry_point=MAIN_FLOW)).id
    )
    ivr.save_draft(session, actor=actor, flow_id=flow_id, document=parse_document(main_flow(plan)))
    ivr.publish(session, actor=actor, flow_id=flow_id, prompt_exists=lambda _: True)
    created.append(f"flow {MAIN_FLOW}")


def _care_list(db: Database, actor: Principal, created: list[str]) -> tuple[uuid.UUID, int]:
    """The care list, filled through the import pipeline (validation, DNC screening, encryption, dedupe). Care
    lists are screened against do-not-call only, not marketing consent. A finished import means it is done."""
    with db.scoped() as session:
        tenancy.bind(session, slug=actor.tenant_slug)
        list_id, new = import_service.ensure_list(session, actor=actor, name=CARE_LIST, purpose=Purpose.CARE)
        jobs = import_service.list_jobs(session, actor=actor, list_id=list_id)
        done = [j for j in jobs if j.status == "finished"]
        if done:
            return list_id, done[0].accepted
        if new:
            created.append("list care")
    with tempfile.TemporaryDirectory(prefix="callvault-demo-") as tmp:
        path = Path(tmp) / "care-list.csv"
        with path.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["姓名", "手机号码"])
            writer.writerows(care_rows())
        with db.scoped() as session:
            tenancy.bind(session, slug=actor.tenant_slug)
            # The file is the same every run, so an import cut short is resumed rather than started again.
            started = import_service.start_import(
                session,
                actor=actor,
                list_id=list_id,
                path=path,
                file_name=path.name,
                fmt="csv",
                mapping=None,
                report_path=None,
                data_dir=db.settings.data_dir,
            )
        result = import_service.run_job(db, actor=actor, job_id=started.job_id, path=path)
    created.append(f"contacts {result.accepted}")
    return list_id, result.accepted


def _campaign(session: Session, actor: Principal, plan: FloorPlan, list_id: uuid.UUID, created: list[str]) -> Campaign:
    found = session.scalars(select(Campaign).where(Campaign.name == plan.campaign)).first()
    if found is not None:
        return found
    data = CampaignCreate(name=plan.campaign, purpose=Purpose.CARE, list_id=list_id, caller_id=plan.caller_id)
    read = campaigns.create_campaign(session, actor=actor, data=data)
    created.append("campaign")
    if not campaigns.limits_of(session).four_eyes:
        # Without four eyes the creator may approve; with them it stays a draft for a second person.
        campaigns.approve_campaign(session, actor=actor, campaign_id=read.id)
    return session.scalars(select(Campaign).where(Campaign.id == read.id)).one()
