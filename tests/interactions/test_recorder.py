"""Engine events become call records: the sim engine carries a real call flow, the recorder writes it."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import select

from callvault.core.db import Database
from callvault.core.outbox_models import OutboxEvent
from callvault.core.tenant_context import set_tenant
from callvault.interactions.models import Interaction, InteractionLeg, Recording
from callvault.interactions.recorder import CallRecorder, LegClaim
from callvault.interactions.schemas import PartyKind
from callvault.telephony import CallOffered
from callvault.telephony.sim import Directory, FarEnd, SimEngine
from tests.fixtures import World
from tests.interactions.helpers import CUSTOMER, DID

AGENT_URI = "sip:agent-7@pbx.callvault"


def _run_call(db: Database, tenant_id: uuid.UUID, tmp_path: Path) -> CallRecorder:
    """Customer calls the DID, hears the IVR for 5 s, an agent is rung (answers after 2 s), they talk 20 s with
    a 4 s hold in the middle, the customer's leg is recorded, the agent hangs up, then the customer."""

    def attribute(offered: CallOffered) -> LegClaim | None:
        if DID not in offered.to_uri:
            return None
        return LegClaim(tenant_id, PartyKind.CUSTOMER, trunk="carrier-a", entry_point="card-service")

    recorder = CallRecorder(db, attribute=attribute)

    media = tmp_path / "media"
    media.mkdir()

    async def main() -> None:
        sim = SimEngine(directory=Directory({AGENT_URI: FarEnd(answer_after=2.0)}), recordings_dir=media, seed=3)
        events = sim.events()

        async def scenario() -> None:
            customer = sim.offer_inbound(
                FarEnd(), from_uri=f"sip:{CUSTOMER}@carrier.example", to_uri=f"sip:{DID}@callvault"
            )
            stranger = sim.offer_inbound(FarEnd(), from_uri="sip:+8613900000000@x", to_uri="sip:+862000000000@x")
            await sim.answer(customer)
            await sim.hangup(stranger)
            await sim.sleep(5)
            agent = await sim.originate(AGENT_URI, f"sip:{DID}@callvault", ring_timeout=20)
            recorder.claim(agent, LegClaim(tenant_id, PartyKind.AGENT, with_call=customer, trunk="internal"))
            await sim.sleep(2.5)
            await sim.bridge(customer, agent)
            await sim.start_recording(customer)
            await sim.sleep(8)
            await sim.hold(customer)
            await sim.sleep(4)
            await sim.unhold(customer)
            await sim.sleep(8)
            await sim.hangup(agent)
            await sim.sleep(1)
            await sim.hangup(customer)
            await sim.sleep(1)

        await sim.run(scenario())
        await sim.close()
        await recorder.run(events)

    asyncio.run(main())
    return recorder


def test_a_sim_call_becomes_an_interaction_with_legs_times_and_an_encrypted_recording(
    world: World, db: Database, tmp_path: Path
) -> None:
    inst = world.institution(roles=())
    recorder = _run_call(db, inst.id, tmp_path)
    assert recorder.failed == 0

    with db.scoped() as session:
        set_tenant(session, inst.id)
        (interaction,) = session.scalars(select(Interaction)).all()
        legs = {leg.party: leg for leg in session.scalars(select(InteractionLeg))}
        (recording,) = session.scalars(select(Recording)).all()
        subjects = [e.name.split(".", 2)[2] for e in session.scalars(select(OutboxEvent).order_by(OutboxEvent.id))]
        names = [n for n in subjects if not n.startswith("audit.")]
        payloads: list[Any] = [e.payload for e in session.scalars(select(OutboxEvent))]

    assert interaction.direction == "inbound" and interaction.entry_point == "card-service"
    assert interaction.status == "ended"
    customer, agent = legs["customer"], legs["agent"]
    assert agent.interaction_id == customer.interaction_id == interaction.id
    # Virtual seconds map onto wall time one to one.
    assert round((agent.started_at - customer.started_at).total_seconds()) == 5
    assert interaction.ring_ms == 2000
    assert interaction.hold_ms == 4000 and customer.hold_ms == 4000
    assert interaction.talk_ms == agent.billable_ms - 4000
    assert agent.billable_ms == 20_500  # answered at 7 s, hung up at 27.5 s
    assert interaction.answered_at == agent.answered_at
    assert interaction.hangup_cause == "normal"
    # Rating attributes in clear, numbers only as ciphertext and index.
    assert (customer.destination_type, customer.destination_prefix, customer.trunk) == ("mobile", "+86138", "carrier-a")
    assert agent.destination_type == "internal" and agent.trunk == "internal"
    assert customer.remote_number_ct is not None and CUSTOMER.encode() not in customer.remote_number_ct
    assert customer.remote_number_bidx is not None and agent.remote_number_bidx is None
    # The recording was encrypted and its plaintext removed.
    assert customer.recording_id == recording.id and recording.leg_id == customer.id
    assert not list((tmp_path / "media").glob("*.wav"))
    assert recording.size_bytes > 44 and recording.duration_ms > 0
    # Events for the bus: the call's life, no numbers anywhere.
    assert names[:3] == ["interaction.opened", "interaction.leg_started", "interaction.leg_answered"]
    assert {"interaction.leg_ended", "interaction.ended", "recording.stored"} <= set(names)
    assert CUSTOMER not in repr(payloads) and CUSTOMER[3:] not in repr(payloads)
    # The stranger's call (a DID of no institution) left nothing.
    assert len(legs) == 2
