"""The IVR's outcome reaches the ACD: queue by name, VIP priority first, queued callbacks keep their place."""

from __future__ import annotations

import uuid

from callvault.acd import service as acd
from callvault.acd.router import Router
from callvault.acd.schemas import QueueCreate
from callvault.core.db import Database
from callvault.ivr.handoff import hand_to_acd, queue_ids
from callvault.ivr.interpreter import CallContext, Outcome, OutcomeKind
from callvault.security.principal import system_principal
from callvault.telephony import CallId
from callvault.tenancy import service as tenancy
from tests.fixtures import World


def test_outcomes_enter_the_queue_with_their_priority(db: Database, world: World) -> None:
    bank = world.institution(roles=())
    router = Router()
    with db.scoped() as session:
        inst = tenancy.bind(session, slug=bank.slug)
        actor = system_principal(tenant_id=inst.id, tenant_slug=inst.slug, tenant_kind=inst.kind)
        acd.create_queue(session, actor=actor, data=QueueCreate(name="cards"), router=router)
        queues = queue_ids(session)
    ctx = CallContext(call_id=CallId("sim-1"), variables={})
    plain, vip, callback = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    hand_to_acd(router, Outcome(OutcomeKind.QUEUED, ctx, queue="cards"), queues=queues, call_id=plain, now=1.0)
    hand_to_acd(
        router, Outcome(OutcomeKind.QUEUED, ctx, queue="cards", priority=50), queues=queues, call_id=vip, now=2.0
    )
    hand_to_acd(
        router,
        Outcome(OutcomeKind.CALLBACK, ctx, queue="cards", number="+8613800138000"),
        queues=queues,
        call_id=callback,
        now=3.0,
    )
    assert (
        hand_to_acd(
            router, Outcome(OutcomeKind.VOICEMAIL, ctx, mailbox="m"), queues=queues, call_id=uuid.uuid4(), now=4.0
        )
        == []
    )
    assert router.calls[vip].priority == 50
    assert router.calls[plain].priority == 0
    assert router.calls[callback].callback_number == "+8613800138000"
    assert {router.calls[c].queue_id for c in (plain, vip, callback)} == {queues["cards"]}
