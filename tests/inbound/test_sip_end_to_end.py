"""End to end on real SIP: SIPp calls the institution's DID at the media worker, keys "1" in the published flow
(RFC 4733), is queued; the agent's phone (a SIPp user agent registered with its digest at a real Kamailio front)
rings through the front and answers; caller and agent are bridged; the caller hangs up, the agent's phone gets
its BYE; the call record and the agent's state say what happened.

Skipped only without Kamailio, SIPp, pjsua2 or espeak-ng (CI's bootstrap installs them)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import pytest

from callvault.acd.agent_state import AgentState
from callvault.acd.owner import AcdOwners
from callvault.core.db import Database
from callvault.inbound.switchboard import Switchboard, front_dialer
from callvault.interactions.recorder import CallRecorder
from callvault.sipedge.front import KamailioFront, kamailio_binary
from callvault.sipedge.kamailio_cfg import FrontConfig
from callvault.telephony.sim import FarEnd
from tests.fixtures import World
from tests.inbound.floors import floor, interactions, ready
from tests.sipedge import sipp_scenarios
from tests.sipedge.test_front_sip import free_udp_port
from tests.telephony.contract.sipp_far_end import caller_scenario

pytestmark = [
    pytest.mark.skipif(kamailio_binary() is None, reason="kamailio is not installed (Debian package kamailio)"),
    pytest.mark.skipif(shutil.which("sipp") is None, reason="SIPp is not installed (Debian package sip-tester)"),
    pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed"),
]
LIMIT_S = 60  # bounds against hangs, not performance assertions
TALK_S = 12.0


def _sipp(
    workdir: Path, name: str, scenario: str, *, target: str | None, extra: tuple[str, ...] = ()
) -> subprocess.Popen[bytes]:
    path = workdir / f"{name}.xml"
    path.write_text(scenario)
    command = [
        "sipp",
        *((target,) if target else ()),
        *("-sf", str(path), "-m", "1", "-nostdin", "-i", "127.0.0.1", "-p", str(free_udp_port())),
        *("-mi", "127.0.0.1", "-mp", str(free_udp_port()), "-timeout", f"{LIMIT_S}s", "-timeout_error"),
        *("-trace_err", "-error_file", str(workdir / f"{name}-errors.log")),
        *extra,
    ]
    return subprocess.Popen(command, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _finished(process: subprocess.Popen[bytes], workdir: Path, name: str) -> int:
    _, stderr = process.communicate(timeout=LIMIT_S + 10)
    errors = workdir / f"{name}-errors.log"
    if process.returncode != 0 and errors.exists():
        print(name, errors.read_text()[-2000:], stderr.decode(errors="replace")[-500:])
    return process.returncode


def test_caller_reaches_the_agents_registered_phone_through_ivr_queue_and_bridge(
    db: Database, world: World, tmp_path: Path
) -> None:
    pytest.importorskip("pjsua2", reason="the pjsua2-python wheel is not installed")
    from callvault.telephony.sip.engine import SipEngine

    owners = AcdOwners(db, tick_seconds=0)
    f = floor(db, world, owners, phones={"alice": True})
    worker_port = free_udp_port()
    front = KamailioFront(
        FrontConfig("127.0.0.1", free_udp_port(), (f"127.0.0.1:{worker_port}",), tmp_path / "front"), db
    )
    front.start()
    front_at = f"127.0.0.1:{front.config.port}"
    phone_port = free_udp_port()
    try:
        register = sipp_scenarios.register(f"alice@{f.slug}", f"alice@127.0.0.1:{phone_port}", final=200)
        registering = _sipp(
            tmp_path, "register", register, target=front_at, extra=("-au", "alice", "-ap", f.passwords["alice"])
        )
        assert _finished(registering, tmp_path, "register") == 0
        phone_path = tmp_path / "phone.xml"
        phone_path.write_text(sipp_scenarios.agent_phone())
        phone = subprocess.Popen(
            [
                *("sipp", "-sf", str(phone_path), "-m", "1", "-nostdin", "-i", "127.0.0.1", "-p", str(phone_port)),
                *("-mi", "127.0.0.1", "-mp", str(free_udp_port()), "-timeout", f"{LIMIT_S}s", "-timeout_error"),
                *("-trace_err", "-error_file", str(tmp_path / "phone-errors.log")),
            ],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
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
                calling = _sipp(tmp_path, "caller", call_in, target=f"127.0.0.1:{worker_port}")
                assert await asyncio.to_thread(_finished, calling, tmp_path, "caller") == 0
                for _ in range(50):  # the agent's leg ends just after the caller's
                    if not board.agent_legs_up:
                        break
                    await asyncio.sleep(0.1)
            finally:
                await engine.close()
                await serving
            return board

        board = asyncio.run(asyncio.wait_for(scenario(), LIMIT_S + 30))
        assert _finished(phone, tmp_path, "phone") == 0  # rang, answered, got the BYE through the front
    finally:
        assert front.stop() == 0

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
