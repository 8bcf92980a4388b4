"""End to end on real SIP: SIPp calls the institution's DID at the media worker, keys "1" in the published flow
(RFC 4733), is queued; the agent's phone (a SIPp user agent registered with its digest at a real Kamailio front)
rings through the front and answers; caller and agent are bridged; the caller hangs up, the agent's phone gets
its BYE; the call record and the agent's state say what happened.

Skipped only without Kamailio, SIPp, pjsua2 or espeak-ng (CI's bootstrap installs them)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from callvault.acd.agent_state import AgentState
from callvault.acd.owner import AcdOwners
from callvault.core.db import Database
from callvault.inbound.switchboard import Switchboard, front_dialer
from callvault.interactions.recorder import CallRecorder
from callvault.telephony.sim import FarEnd
from tests.fixtures import World
from tests.inbound.floors import floor, interactions, ready
from tests.inbound.sip_rig import LIMIT_S, NEEDS_SIP, agent_phone, finished, kamailio_front, reaped, sipp
from tests.sipedge.test_front_sip import free_udp_port
from tests.telephony.contract.sipp_far_end import caller_scenario

pytestmark = NEEDS_SIP
TALK_S = 12.0


def test_caller_reaches_the_agents_registered_phone_through_ivr_queue_and_bridge(
    db: Database, world: World, tmp_path: Path
) -> None:
    pytest.importorskip("pjsua2", reason="the pjsua2-python wheel is not installed")
    from callvault.telephony.sip.engine import SipEngine

    owners = AcdOwners(db, tick_seconds=0)
    f = floor(db, world, owners, phones={"alice": True})
    worker_port = free_udp_port()
    with kamailio_front(db, tmp_path, worker_port) as front_at, reaped() as runs:
        phone = agent_phone(tmp_path, front_at, f, "alice")
        runs.append(phone)
        ready(db, f, f.agents["alice"])
        pcaps = tmp_path / "caller"
        pcaps.mkdir()
        caller = FarEnd(digits=FarEnd.presses("1", start=2.0), hangup_after=TALK_S + 8.0)
        call_in = caller_scenario(
            caller, from_uri="sip:+8613800138000@127.0.0.1", to_uri=f"sip:{f.did}@127.0.0.1", workdir=pcaps
        )

        async def scenario() -> Switchboard:
            engine = SipEngine(workdir=tmp_path, sip_port=worker_port, rtp_port=free_udp_port(), front=front_at)
            await engine.start()
            board = Switchboard(engine, db, owners, CallRecorder(db), dial_station=front_dialer(engine))
            serving = asyncio.ensure_future(board.run(engine.events()))
            try:
                calling = sipp(tmp_path, "caller", call_in, target=f"127.0.0.1:{worker_port}")
                runs.append(calling)
                assert await asyncio.to_thread(finished, calling, tmp_path, "caller") == 0
                for _ in range(50):  # the agent's leg ends just after the caller's
                    if not board.agent_legs_up:
                        break
                    await asyncio.sleep(0.1)
            finally:
                await engine.close()
                await serving
            return board

        board = asyncio.run(asyncio.wait_for(scenario(), LIMIT_S + 30))
        assert finished(phone, tmp_path, "phone-alice") == 0  # rang, answered, got the BYE through the front

    assert (board.stats.offered, board.stats.rings, board.stats.connected) == (1, 1, 1)
    ((row, legs),) = interactions(db, f.tenant_id)
    assert (row.direction, row.entry_point, row.queue_id, row.status) == ("inbound", "ivr:main", f.queue_id, "ended")
    assert row.ivr_path[0] == "menu" and row.ivr_path[-1] == "to_cards"
    assert [(leg.party, leg.agent_id, leg.hangup_cause) for leg in legs] == [
        ("customer", None, "normal"),
        ("agent", f.agents["alice"], "normal"),
    ]
    assert row.answered_at is not None and row.queued_at is not None
    # The phone answered at once; the talk lasted from the answer to the caller's BYE (about TALK_S seconds: the
    # caller hangs up TALK_S + 8 s after its own answer, of which the menu and the transfer prompt take some).
    assert row.ring_ms < 3000
    assert 3000 < row.talk_ms < (TALK_S + 8.0) * 1000
    agent = f.owner.router.agents[f.agents["alice"]]
    assert agent.state is AgentState.WRAP_UP and agent.call is None
