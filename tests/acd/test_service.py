"""ACD action functions on the real database: rows + audit + event in one transaction, the batched routing log,
and an owner rebuilt from the database that equals the one that wrote it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callvault.acd import rebuild, service
from callvault.acd.agent_state import AgentState, IllegalTransition
from callvault.acd.decision_log import DecisionWriter
from callvault.acd.models import AcdAgentStateChange, AcdQueue, AcdRoutingDecision
from callvault.acd.router import Router
from callvault.acd.schemas import AgentSkillsSet, PauseReasonCreate, QueueCreate, QueueUpdate
from callvault.core.db import Database
from callvault.core.errors import PermissionDenied
from callvault.core.outbox_models import OutboxEvent
from callvault.security.audit_models import AuditEvent
from callvault.security.principal import Principal, system_principal
from callvault.tenancy import service as tenancy
from tests.fixtures import Institution, World

S = AgentState
T0 = 1_800_000_000.0


@pytest.fixture
def bank(world: World) -> Institution:
    return world.institution(roles=())


@pytest.fixture
def session(db: Database, bank: Institution) -> Iterator[Session]:
    with db.scoped() as s:
        tenancy.bind(s, slug=bank.slug)
        yield s


def admin(bank: Institution) -> Principal:
    return system_principal(tenant_id=bank.id, tenant_slug=bank.slug, tenant_kind="institution")


def agent_principal(bank: Institution, agent_id: uuid.UUID) -> Principal:
    return Principal(
        kind="user",
        id=agent_id,
        name="agent",
        tenant_id=bank.id,
        tenant_slug=bank.slug,
        tenant_kind="institution",
        permissions=frozenset({"agent.handle"}),
    )


def staff(session: Session, bank: Institution, router: Router) -> tuple[uuid.UUID, uuid.UUID, list[uuid.UUID]]:
    actor = admin(bank)
    vip = service.create_queue(
        session, actor=actor, router=router, data=QueueCreate(name="vip", requirements={"cards": 5}, priority=2)
    )
    cards = service.create_queue(
        session,
        actor=actor,
        router=router,
        data=QueueCreate(
            name="cards",
            requirements={"cards": 1},
            strategy="most_skilled",
            max_length=5,
            overflow="queue",
            overflow_queue_id=vip.id,
        ),
    )
    service.create_pause_reason(session, actor=actor, router=router, data=PauseReasonCreate(code="lunch"))
    agents = [uuid.uuid4() for _ in range(4)]
    for level, aid in zip((2, 5, 8, 9), agents, strict=True):
        service.set_agent_skills(
            session,
            actor=actor,
            router=router,
            agent_id=aid,
            data=AgentSkillsSet(skills={"cards": level, "loans": 3}, blended=level == 9),
        )
    return vip.id, cards.id, agents


def test_queue_actions_write_row_audit_and_event(session: Session, bank: Institution) -> None:
    router = Router()
    vip_id, _, _ = staff(session, bank, router)
    service.update_queue(
        session, actor=admin(bank), queue_id=vip_id, data=QueueUpdate(wrap_up_seconds=10), router=router
    )
    assert session.get(AcdQueue, vip_id).wrap_up_seconds == 10  # type: ignore[union-attr]
    assert router.queues[vip_id].config.wrap_up_seconds == 10
    actions = set(session.scalars(select(AuditEvent.action)).all())
    assert {"acd.queue.create", "acd.queue.update", "acd.agent.skills_set", "acd.pause_reason.create"} <= actions
    names = set(session.scalars(select(OutboxEvent.name)).all())
    assert f"t.{bank.slug}.acd.queue.updated" in names


def test_agent_state_change_is_logged_audited_and_checked(session: Session, bank: Institution) -> None:
    router = Router()
    _, _, (a, b, _, _) = staff(session, bank, router)
    me = agent_principal(bank, a)
    service.change_agent_state(session, actor=me, router=router, agent_id=a, state=S.READY, now=T0)
    service.change_agent_state(session, actor=me, router=router, agent_id=a, state=S.PAUSED, reason="lunch", now=T0)
    with pytest.raises(IllegalTransition):
        service.change_agent_state(session, actor=me, router=router, agent_id=a, state=S.PAUSED, reason="lunch", now=T0)
    with pytest.raises(PermissionDenied):
        service.change_agent_state(session, actor=me, router=router, agent_id=b, state=S.READY, now=T0)
    with pytest.raises(PermissionDenied):
        service.create_queue(session, actor=me, data=QueueCreate(name="mine"))
    session.rollback()
    states = session.scalars(select(AcdAgentStateChange.state).where(AcdAgentStateChange.agent_id == a)).all()
    assert list(states) == ["ready", "paused"]
    events = session.scalars(select(OutboxEvent.name).where(OutboxEvent.name.like("%acd.agent.state_changed"))).all()
    assert len(events) == 2


def test_rebuilt_owner_equals_the_one_that_wrote_it(db: Database, session: Session, bank: Institution) -> None:
    router = Router()
    vip_id, cards_id, agents = staff(session, bank, router)
    writer = DecisionWriter(db, router=router, tenant_id=bank.id, tenant_slug=bank.slug)
    me = admin(bank)
    for i, aid in enumerate(agents):
        service.change_agent_state(session, actor=me, router=router, agent_id=aid, state=S.READY, now=T0 + i)
    now = T0 + 10
    talking = None
    for n in range(12):  # more callers than agents: some wait, one queue overflows into the other
        now += 0.25
        for offer in router.enqueue(uuid.uuid4(), queue_id=cards_id if n % 3 else vip_id, priority=n % 2, now=now):
            router.accept(offer.call_id, now=now)
            talking = talking or offer.call_id
    assert talking is not None
    agent_id = router.calls[talking].agent.id  # type: ignore[union-attr]
    router.finish_call(talking, now=now + 60)
    service.end_wrap_up(
        session,
        actor=me,
        router=router,
        agent_id=agent_id,
        disposition="sold",
        then=S.PAUSED,
        reason="lunch",
        now=now + 61,
    )
    made = len(router.decisions)
    writer.flush()
    assert router.decisions == [] and router.state_changes == []
    rebuilt = rebuild.load_router(session)
    assert rebuild.snapshot(rebuilt) == rebuild.snapshot(router)
    logged = session.scalar(select(func.count()).select_from(AcdRoutingDecision))
    assert logged == made
    assert session.scalars(select(OutboxEvent.name).where(OutboxEvent.name.like("%acd.routing.batch"))).first()
    # The rebuilt owner continues the log where the old one stopped.
    last = session.scalar(select(func.max(AcdAgentStateChange.seq)))
    assert last is not None and rebuilt._next() > last
    assert [a.state for a in rebuilt.agents.values()].count(S.TALKING) == 3


def test_rebuild_sees_only_its_own_institution(db: Database, world: World, session: Session, bank: Institution) -> None:
    staff(session, bank, Router())
    other = world.institution(roles=())
    with db.scoped() as s:
        tenancy.bind(s, slug=other.slug)
        assert rebuild.load_router(s).queues == {}
