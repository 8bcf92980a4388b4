"""The routing owners of the app process against a real database: decisions serialised per institution under
concurrent callers, every decision written through the action functions, a rebuild that sees the same agents,
and the ticker applying the ring timeout."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from callvault.acd import service
from callvault.acd.agent_state import AgentState
from callvault.acd.models import AcdRoutingDecision
from callvault.acd.owner import AcdOwners, TenantOwner
from callvault.acd.schemas import AgentSkillsSet, PauseReasonCreate, QueueCreate
from callvault.core import clock
from callvault.core.db import Database
from callvault.core.tenant_context import set_tenant
from callvault.ivr.interpreter import CallContext, Outcome, OutcomeKind
from callvault.security.audit_models import AuditEvent
from callvault.security.principal import Principal, system_principal
from callvault.telephony import CallId
from callvault.tenancy import service as tenancy
from tests.fixtures import World

S = AgentState


def staffed(db: Database, owners: AcdOwners, slug: str, agents: int) -> tuple[TenantOwner, uuid.UUID, list[uuid.UUID]]:
    with db.scoped() as session:
        inst = tenancy.bind(session, slug=slug)
        actor = system_principal(tenant_id=inst.id, tenant_slug=inst.slug, tenant_kind=inst.kind)
        owner = owners.of(inst.id, inst.slug, session=session)
        queue = owner.run(lambda r, _: service.create_queue(session, actor=actor, data=QueueCreate(name="q"), router=r))
        owner.run(
            lambda r, _: service.create_pause_reason(
                session, actor=actor, data=PauseReasonCreate(code="lunch"), router=r
            )
        )
        ids = [uuid.uuid4() for _ in range(agents)]
        for aid in ids:
            data = AgentSkillsSet(skills={"cards": 3})
            owner.run(
                lambda r, _, a=aid, d=data: service.set_agent_skills(session, actor=actor, agent_id=a, data=d, router=r)
            )
    return owner, queue.id, ids


def actor_of(db: Database, slug: str) -> Principal:
    with db.scoped() as session:
        inst = tenancy.bind(session, slug=slug)
        return system_principal(tenant_id=inst.id, tenant_slug=inst.slug, tenant_kind=inst.kind)


def go_ready(db: Database, owner: TenantOwner, actor: Principal, agent_id: uuid.UUID) -> None:
    with db.scoped() as session:
        set_tenant(session, owner.tenant_id)
        owner.change_state(session, actor=actor, agent_id=agent_id, state=S.READY, reason="")


def test_concurrent_callers_and_agents_never_double_book(db: Database, world: World) -> None:
    bank = world.institution(roles=())
    owners = AcdOwners(db, tick_seconds=0)
    owner, queue, agents = staffed(db, owners, bank.slug, 12)
    actor = actor_of(db, bank.slug)
    calls = [uuid.uuid4() for _ in range(30)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        jobs = [pool.submit(owner.enqueue, call, queue_id=queue) for call in calls]
        jobs += [pool.submit(go_ready, db, owner, actor, aid) for aid in agents]
        for job in jobs:
            job.result()
    router = owner.router
    holders = [a.call.id for a in router.agents.values() if a.call is not None]
    assert len(holders) == len(set(holders)) == 12
    assert all(router.agents[a].state is S.RINGING for a in agents)
    assert router.queues[queue].waiting == 18
    assert not router.decisions  # everything was written
    with db.scoped() as session:
        set_tenant(session, bank.id)
        kinds = dict(
            session.execute(select(AcdRoutingDecision.kind, func.count()).group_by(AcdRoutingDecision.kind)).all()
        )
        batches = session.scalar(select(func.count()).where(AuditEvent.action == "acd.routing.batch"))
    assert kinds["offered"] == 12
    assert batches and batches > 0
    # A second process rebuilding this institution sees the same seats; offers do not survive, agents come back ready.
    rebuilt = AcdOwners(db, tick_seconds=0).of(bank.id, bank.slug).router
    assert {a.id: a.state for a in rebuilt.agents.values()} == {aid: S.READY for aid in agents}
    assert rebuilt.pause_reasons >= {"lunch"}


def test_the_ticker_applies_the_ring_timeout(db: Database, world: World) -> None:
    bank = world.institution(roles=())
    owners = AcdOwners(db, tick_seconds=0.05)
    owner, queue, (agent,) = staffed(db, owners, bank.slug, 1)
    go_ready(db, owner, actor_of(db, bank.slug), agent)
    call = uuid.uuid4()
    assert [o.agent_id for o in owner.enqueue(call, queue_id=queue)] == [agent]
    owners.start()
    try:
        clock.travel(owner.router.ring_timeout + 1)
        deadline = time.monotonic() + 10
        while owner.router.agents[agent].state is not S.PAUSED:
            assert time.monotonic() < deadline, "the ring timeout never fired"
            time.sleep(0.02)
    finally:
        owners.stop()
    assert owner.router.agents[agent].reason == "ring_no_answer"
    assert owner.router.queues[queue].waiting == 1
    with db.scoped() as session:
        set_tenant(session, bank.id)
        kinds = session.scalars(
            select(AcdRoutingDecision.kind).where(AcdRoutingDecision.call_id == call).order_by(AcdRoutingDecision.seq)
        ).all()
    assert kinds == ["offered", "requeued"]


def test_one_owner_per_institution_even_when_first_asked_concurrently(db: Database, world: World) -> None:
    bank = world.institution(roles=())
    owners = AcdOwners(db, tick_seconds=0)
    got: list[TenantOwner] = []
    start = threading.Barrier(4)

    def ask() -> None:
        start.wait()
        got.append(owners.of(bank.id, bank.slug))

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(o) for o in got}) == 1


def test_an_ivr_outcome_keeps_its_path_digits_and_skills_for_the_screen_pop(db: Database, world: World) -> None:
    bank = world.institution(roles=())
    owners = AcdOwners(db, tick_seconds=0)
    owner, queue, (mandarin, cantonese) = staffed(db, owners, bank.slug, 2)
    with db.scoped() as session:
        set_tenant(session, bank.id)
        actor = actor_of(db, bank.slug)
        data = AgentSkillsSet(skills={"cards": 3, "yue": 5})
        owner.run(lambda r, _: service.set_agent_skills(session, actor=actor, agent_id=cantonese, data=data, router=r))
    go_ready(db, owner, actor, mandarin)
    ctx = CallContext(
        call_id=CallId("sim-7"),
        variables={},
        digits=["2", "88880000"],
        path=["main", "cards", "q"],
        lookup={"tier": "vip", "balance": 1234.5},
    )
    call, interaction = uuid.uuid4(), uuid.uuid4()
    outcome = Outcome(OutcomeKind.QUEUED, ctx, queue="q", priority=5, skills={"yue": 3})
    assert owner.hand_off(outcome, call_id=call, queues={"q": queue}, interaction_id=interaction) == []
    go_ready(db, owner, actor, cantonese)
    offer = owner.agent_view(cantonese)["offer"]
    assert offer["call_id"] == str(call) and offer["interaction_id"] == str(interaction)
    assert offer["ivr_path"] == ["main", "cards", "q"] and offer["digits"] == ["2", "88880000"]
    assert offer["lookup"] == [["tier", "vip"], ["balance", "1234.5"]]
    assert owner.router.agents[mandarin].state is S.READY  # lacks the flow's skill
    # A flow naming a queue the institution no longer has leaves the caller unrouted and nothing behind.
    with pytest.raises(KeyError):
        owner.hand_off(Outcome(OutcomeKind.QUEUED, ctx, queue="gone"), call_id=uuid.uuid4(), queues={"q": queue})
    assert set(owner.calls) == {call}


def test_todays_counters_start_again_the_next_day(db: Database, world: World) -> None:
    bank = world.institution(roles=())
    owner, queue, (agent,) = staffed(db, AcdOwners(db, tick_seconds=0), bank.slug, 1)
    go_ready(db, owner, actor_of(db, bank.slug), agent)
    owner.enqueue(uuid.uuid4(), queue_id=queue)
    assert owner.stats()["queues"][0]["offered_today"] == 1
    clock.travel(86_400)
    assert owner.stats()["queues"][0]["offered_today"] == 0
