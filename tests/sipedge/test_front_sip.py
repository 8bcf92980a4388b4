"""The SIP front end to end: real Kamailio, a real pjsua2 media worker and SIPp phones/carriers on 127.0.0.1.

Ports are chosen free at run time. Skipped only when Kamailio, SIPp or the pjsua2 wheel is missing (CI's
bootstrap installs all three).
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from callvault.security.principal import system_principal
from callvault.sipedge import service as sip
from callvault.sipedge.front import KamailioFront, kamailio_binary
from callvault.sipedge.kamailio_cfg import FrontConfig
from callvault.sipedge.schemas import (
    CallerIdRule,
    DidAssign,
    EndpointCreate,
    EntryKind,
    TrunkCreate,
    TrunkDirection,
)
from callvault.telephony import CallAnswered, CallHangup, CallOffered, HangupCause
from callvault.tenancy import service as tenancy
from tests.fixtures import World
from tests.sipedge import sipp_scenarios
from tests.telephony.eventlog import EventLog

if TYPE_CHECKING:
    from callvault.telephony.sip.engine import SipEngine

pytestmark = [
    pytest.mark.skipif(kamailio_binary() is None, reason="kamailio is not installed (Debian package kamailio)"),
    pytest.mark.skipif(shutil.which("sipp") is None, reason="SIPp is not installed (Debian package sip-tester)"),
]
SIPP_LIMIT_S = 30  # a bound against hangs, not a performance assertion


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Edge:
    """One institution's numbers and phones behind a running front, with the ports and files of the run."""

    world: World
    front: KamailioFront
    workdir: Path
    worker_port: int
    slug: str
    other_slug: str
    did: str
    other_did: str
    password: str
    carrier_port: int

    def sipp(
        self, scenario: str, name: str, *, port: int | None = None, extra: tuple[str, ...] = (), uas: bool = False
    ) -> subprocess.Popen[bytes]:
        path = self.workdir / f"{name}.xml"
        path.write_text(scenario)
        target = () if uas else (f"127.0.0.1:{self.front.config.port}",)
        command = [
            "sipp",
            *target,
            *("-sf", str(path), "-i", "127.0.0.1", "-p", str(port or free_udp_port())),
            *("-mi", "127.0.0.1", "-mp", str(free_udp_port())),
            *("-m", "1", "-nostdin", "-timeout", f"{SIPP_LIMIT_S}s", "-timeout_error"),
            *("-trace_err", "-error_file", str(self.workdir / f"{name}-errors.log")),
            *extra,
        ]
        return subprocess.Popen(command, cwd=self.workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def run_sipp(self, scenario: str, name: str, *, extra: tuple[str, ...] = ()) -> int:
        process = self.sipp(scenario, name, extra=extra)
        _, stderr = process.communicate(timeout=SIPP_LIMIT_S + 10)
        return self._result(process, name, stderr)

    def _result(self, process: subprocess.Popen[bytes], name: str, stderr: bytes) -> int:
        errors = self.workdir / f"{name}-errors.log"
        if process.returncode != 0 and errors.exists():
            print(errors.read_text()[-2000:], stderr.decode(errors="replace")[-500:])
        return process.returncode

    def register(self, contact_port: int, *, password: str, final: int) -> int:
        scenario = sipp_scenarios.register(f"alice@{self.slug}", f"alice@127.0.0.1:{contact_port}", final=final)
        return self.run_sipp(scenario, f"register-{final}", extra=("-au", "alice", "-ap", password))


@pytest.fixture
def edge(world: World, tmp_path: Path) -> Iterator[Edge]:
    a = world.institution(roles=())
    b = world.institution(roles=())
    port = free_udp_port()
    did, other_did = f"+8610{port:08d}", f"+8620{port:08d}"
    with world.db.scoped() as session:
        inst = tenancy.bind(session, slug=a.slug)
        actor = system_principal(tenant_id=inst.id, tenant_slug=inst.slug, tenant_kind=inst.kind)
        phone = sip.create_endpoint(session, actor=actor, data=EndpointCreate(username="alice"))
        carrier_port = free_udp_port()
        outbound = TrunkCreate(
            name="carrier-out",
            direction=TrunkDirection.OUTBOUND,
            peer_host="127.0.0.1",
            peer_port=carrier_port,
            caller_id_rule=CallerIdRule.FIXED,
            caller_id="95588",
        )
        sip.create_trunk(session, actor=actor, data=outbound)
        other = tenancy.bind(session, slug=b.slug)
        other_actor = system_principal(tenant_id=other.id, tenant_slug=other.slug, tenant_kind=other.kind)
        # B takes calls only from its carrier's address, which is not where the test's SIPp sends from.
        sip.create_trunk(
            session,
            actor=other_actor,
            data=TrunkCreate(name="carrier", direction=TrunkDirection.INBOUND, peer_host="192.0.2.7"),
        )
        operator = tenancy.operator_principal(session)
        for number, inst_id in ((did, a.id), (other_did, b.id)):
            sip.assign_did(
                session,
                actor=operator,
                data=DidAssign(number=number, institution_id=inst_id, entry_kind=EntryKind.IVR, entry="main"),
            )
    worker_port = free_udp_port()
    config = FrontConfig("127.0.0.1", free_udp_port(), (f"127.0.0.1:{worker_port}",), tmp_path / "front")
    front = KamailioFront(config, world.db)
    front.start()
    try:
        yield Edge(world, front, tmp_path, worker_port, a.slug, b.slug, did, other_did, phone.password, carrier_port)
    finally:
        assert front.stop() == 0
        print((config.run_dir / "kamailio.log").read_text()[-3000:])


def _engine(edge: Edge) -> SipEngine:
    pytest.importorskip("pjsua2", reason="the pjsua2-python wheel is not installed")
    from callvault.telephony.sip.engine import SipEngine

    front = f"127.0.0.1:{edge.front.config.port}"
    return SipEngine(workdir=edge.workdir, sip_port=edge.worker_port, rtp_port=free_udp_port(), front=front)


def test_agent_phone_registers_with_its_digest_and_the_engine_rings_it(edge: Edge) -> None:
    phone_port = free_udp_port()
    assert edge.register(phone_port, password="not-" + edge.password, final=401) == 0
    assert "alice" not in edge.front.rpc("ul.dump")
    assert edge.register(phone_port, password=edge.password, final=200) == 0
    assert f"alice@{edge.slug}" in edge.front.rpc("ul.dump")
    phone = edge.sipp(sipp_scenarios.agent_phone(), "agent-phone", port=phone_port, uas=True)

    async def scenario() -> None:
        engine = _engine(edge)
        await engine.start()
        log = EventLog(engine)
        try:
            # Another institution's name does not reach A's phone: the front knows no alice there.
            stranger = await engine.originate(
                "agent:alice", "sip:ivr@callvault", ring_timeout=10, tenant=edge.other_slug
            )
            refused = await log.wait_for(CallHangup, stranger)
            assert refused.cause is HangupCause.FAILED and not log.of(CallAnswered, stranger)
            call = await engine.originate("agent:alice", "sip:ivr@callvault", ring_timeout=10, tenant=edge.slug)
            await log.wait_for(CallAnswered, call)
            await engine.hangup(call)
            assert (await log.wait_for(CallHangup, call)).cause is HangupCause.NORMAL
        finally:
            await engine.close()
            await log.close()

    asyncio.run(asyncio.wait_for(scenario(), 60))
    _, stderr = phone.communicate(timeout=SIPP_LIMIT_S + 10)
    assert edge._result(phone, "agent-phone", stderr) == 0


def test_call_to_a_did_reaches_a_media_worker_with_its_institution_and_entry_point(edge: Edge) -> None:
    async def scenario() -> None:
        engine = _engine(edge)
        await engine.start()
        log = EventLog(engine)
        try:
            carrier = edge.sipp(sipp_scenarios.carrier_call(edge.did, hold_ms=500), "carrier")
            offered = await log.wait_for(CallOffered)
            # The forged X-CallVault-Tenant of the caller was dropped; the front's own headers name A.
            assert (offered.tenant, offered.entry) == (edge.slug, "ivr:main")
            await engine.answer(offered.call_id)
            assert (await log.wait_for(CallHangup, offered.call_id)).cause is HangupCause.NORMAL
            _, stderr = await asyncio.to_thread(carrier.communicate, timeout=SIPP_LIMIT_S + 10)
            assert edge._result(carrier, "carrier", stderr) == 0
        finally:
            await engine.close()
            await log.close()

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_outbound_call_leaves_through_the_institutions_trunk_with_its_caller_id(edge: Edge) -> None:
    carrier = edge.sipp(
        sipp_scenarios.busy_carrier(r"sip:95588@127\.0\.0\.1"), "carrier-out", port=edge.carrier_port, uas=True
    )

    async def scenario() -> None:
        engine = _engine(edge)
        await engine.start()
        log = EventLog(engine)
        try:
            # The engine presents another number; the trunk's "fixed" rule replaces it with 95588.
            call = await engine.originate(
                "tel:+8613800138000", "sip:+861000000@callvault", ring_timeout=10, tenant=edge.slug, trunk="carrier-out"
            )
            assert (await log.wait_for(CallHangup, call)).cause is HangupCause.BUSY
            # Another institution cannot use A's trunk by its name.
            other = await engine.originate(
                "tel:+8613800138000", "sip:x@callvault", ring_timeout=10, tenant=edge.other_slug, trunk="carrier-out"
            )
            assert (await log.wait_for(CallHangup, other)).cause is HangupCause.FAILED
        finally:
            await engine.close()
            await log.close()

    asyncio.run(asyncio.wait_for(scenario(), 60))
    _, stderr = carrier.communicate(timeout=SIPP_LIMIT_S + 10)
    assert edge._result(carrier, "carrier-out", stderr) == 0


def test_unknown_numbers_and_calls_from_outside_an_institutions_trunks_are_refused(edge: Edge) -> None:
    assert edge.run_sipp(sipp_scenarios.refused_call("+8610999999999", code=404), "unknown-did") == 0
    assert edge.run_sipp(sipp_scenarios.refused_call(edge.other_did, code=403), "not-the-trunk") == 0


def test_new_phones_are_picked_up_by_a_reload_and_the_front_stops_cleanly(edge: Edge) -> None:
    with edge.world.db.scoped() as session:
        inst = tenancy.bind(session, slug=edge.slug)
        actor = system_principal(tenant_id=inst.id, tenant_slug=inst.slug, tenant_kind=inst.kind)
        bob = sip.create_endpoint(session, actor=actor, data=EndpointCreate(username="bob"))
    assert edge.front.reload()["agents"] >= 2
    scenario = sipp_scenarios.register(f"bob@{edge.slug}", "bob@127.0.0.1:5999", final=200)
    assert edge.run_sipp(scenario, "register-bob", extra=("-au", "bob", "-ap", bob.password)) == 0
    assert f"bob@{edge.slug}" in edge.front.rpc("ul.dump")
    # The agents table on disk holds HA1s only.
    assert bob.password not in (edge.front.config.run_dir / "db" / "agents").read_text()


def test_a_disabled_phone_is_refused_and_registers_again_once_enabled(edge: Edge) -> None:
    phone_port = free_udp_port()
    assert edge.register(phone_port, password=edge.password, final=200) == 0
    assert f"alice@{edge.slug}" in edge.front.rpc("ul.dump")

    def switch(action: str) -> None:
        with edge.world.db.scoped() as session:
            inst = tenancy.bind(session, slug=edge.slug)
            actor = system_principal(tenant_id=inst.id, tenant_slug=inst.slug, tenant_kind=inst.kind)
            alice = next(e for e in sip.list_endpoints(session, actor=actor, limit=50, cursor=None).items)
            getattr(sip, f"{action}_endpoint")(session, actor=actor, endpoint_id=alice.id)
        edge.front.reload()

    switch("disable")
    # The reload drops the phone's registration at once (calls no longer reach it) ...
    assert "alice" not in edge.front.rpc("ul.dump")
    # ... and its REGISTER, with the right password, is challenged again instead of accepted.
    assert edge.register(phone_port, password=edge.password, final=401) == 0
    assert "alice" not in edge.front.rpc("ul.dump")
    switch("enable")
    assert edge.register(phone_port, password=edge.password, final=200) == 0
    assert f"alice@{edge.slug}" in edge.front.rpc("ul.dump")


def test_a_source_failing_authentication_again_and_again_is_refused_and_logged(edge: Edge) -> None:
    phone_port = free_udp_port()
    # Challenges answered right never count, however often the phone registers.
    for _ in range(edge.front.config.auth_failures + 1):
        assert edge.register(phone_port, password=edge.password, final=200) == 0
    for _ in range(edge.front.config.auth_failures):
        assert edge.register(phone_port, password="guess-" + edge.password, final=401) == 0
    # Blocked now, even with the right password: 403 at once, no challenge.
    blocked = sipp_scenarios.refused_register(f"alice@{edge.slug}", f"alice@127.0.0.1:{phone_port}")
    assert edge.run_sipp(blocked, "register-blocked", extra=("-au", "alice", "-ap", edge.password)) == 0
    assert "failed authentications" in edge.front.log_path.read_text()


def test_kamailio_does_not_outlive_a_killed_front_process(world: World, tmp_path: Path) -> None:
    """`callvault sip-front` killed without its clean-up (SIGKILL): its Kamailio goes with it, never an orphan
    holding the SIP port."""
    import os
    import signal
    import sys
    import time

    run_dir = tmp_path / "front"
    port = free_udp_port()
    command = [sys.executable, "-m", "callvault", "sip-front", "--worker", f"127.0.0.1:{free_udp_port()}"]
    command += ["--port", str(port), "--run-dir", str(run_dir), "--reload-every", "0"]
    pattern = f"kamailio.cfg -Y {run_dir}"
    front = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ))
    try:
        deadline = time.monotonic() + SIPP_LIMIT_S
        kamailio: list[str] = []
        while not kamailio and time.monotonic() < deadline:
            kamailio = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout.split()
            time.sleep(0.1)
        assert kamailio, "Kamailio did not start"
        front.send_signal(signal.SIGKILL)
        front.wait(10)
        while time.monotonic() < deadline:
            alive = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout.split()
            if not alive:
                break
            time.sleep(0.1)
        assert not alive, f"Kamailio processes left behind: {alive}"
    finally:
        if front.poll() is None:
            front.kill()
        subprocess.run(["pkill", "-f", pattern], check=False)
