"""`POST /api/v1/agents/{agent_id}/monitor` through the real app: the switchboard carrying the agent's call (the
simulated engine, run in its own thread as the services run it) rings the supervisor's phone and joins it to the
call in the mode asked; the request is audited; errors are problem+json."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqlalchemy import select

from callvault.campaigns.agents import EngineClock, SimTimebase
from callvault.core import clock
from callvault.core.db import Database
from callvault.core.tenant_context import set_tenant
from callvault.inbound.switchboard import Switchboard, inline
from callvault.interactions.models import InteractionLeg
from callvault.interactions.recorder import CallRecorder
from callvault.security.audit_models import AuditEvent
from callvault.sipedge import service as sipedge
from callvault.sipedge.schemas import DidAssign, EndpointCreate, EntryKind
from callvault.telephony.sim import Directory, FarEnd, SimEngine
from callvault.tenancy import service as tenancy
from tests.acd.live import Center, center, owner
from tests.fixtures import World
from tests.inbound.floors import new_did

LIMIT_S = 20.0  # a bound against hangs, not a performance assertion


def _phones_and_number(db: Database, c: Center, phones: dict[str, uuid.UUID]) -> str:
    with db.scoped() as session:
        inst = tenancy.bind(session, slug=c.bank.slug)
        from callvault.security.principal import system_principal

        actor = system_principal(tenant_id=inst.id, tenant_slug=inst.slug, tenant_kind=inst.kind)
        for username, user_id in phones.items():
            sipedge.create_endpoint(session, actor=actor, data=EndpointCreate(username=username, user_id=user_id))
    did = new_did()
    with db.scoped() as session:
        operator = tenancy.operator_principal(session)
        data = DidAssign(number=did, institution_id=c.bank.id, entry_kind=EntryKind.QUEUE, entry="cards")
        sipedge.assign_did(session, actor=operator, data=data)
    return did


@contextmanager
def carried(app: FastAPI, db: Database, tmp_path: Path, phones: dict[str, FarEnd], did: str) -> Iterator[Switchboard]:
    """A switchboard on the simulated engine in a thread of its own, with the app's routing owners; one caller
    calls `did` and stays on the line. Virtual time moves on in small steps until the block ends."""
    stop = threading.Event()
    ready: list[Switchboard] = []

    async def main() -> None:
        sim = SimEngine(directory=Directory({f"agent:{u}": fe for u, fe in phones.items()}), recordings_dir=tmp_path)
        timebase = SimTimebase(sim, clock.now())
        recorder = CallRecorder(db, wall_clock=lambda at: timebase.start + timedelta(seconds=at - timebase.offset))
        board = Switchboard(sim, db, app.state.acd, recorder, clock=EngineClock(timebase), blocking=inline)

        serving = asyncio.ensure_future(board.run(sim.events()))
        await sim.advance(0)
        ready.append(board)
        sim.offer_inbound(FarEnd(hangup_after=None), from_uri="sip:+8613800138000@pstn", to_uri=f"sip:{did}@x")
        while not stop.is_set():
            await sim.advance(0.05)
            await asyncio.sleep(0.001)  # real time too: requests from other threads get their turn
        await sim.close()
        await serving

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    try:
        _until(lambda: bool(ready))
        yield ready[0]
    finally:
        stop.set()
        thread.join(LIMIT_S)


def _until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + LIMIT_S
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_supervisor_listens_in_on_a_live_call_from_the_api(
    app: FastAPI, world: World, login: Any, db: Database, tmp_path: Path
) -> None:
    c = center(world, login, agents={"ann": {"cards": 5}}, queues={"cards": {}})
    ann = c.agents["ann"].user_id
    supervisor_id = c.bank.accounts["supervisor"].user_id
    did = _phones_and_number(db, c, {"ann": ann, "boss": supervisor_id})
    assert c.sessions["ann"].post("/api/v1/agents/me/state", json={"state": "ready"}).status_code == 200
    phones = {"ann": FarEnd(answer_after=1.0, hangup_after=None), "boss": FarEnd(answer_after=1.0, hangup_after=None)}
    routing = owner(app, c.bank)

    # No live call yet: nothing to listen to.
    r = c.supervisor.post(f"/api/v1/agents/{ann}/monitor", json={"mode": "listen"})
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"

    with carried(app, db, tmp_path, phones, did) as board:
        _until(lambda: routing.connected_call(ann) is not None)
        call_id = routing.connected_call(ann)
        assert c.supervisor.post(f"/api/v1/agents/{ann}/monitor").status_code == 422  # no body
        assert c.supervisor.post(f"/api/v1/agents/{ann}/monitor", json={"mode": "spy"}).status_code == 422
        assert c.sessions["ann"].post(f"/api/v1/agents/{ann}/monitor", json={"mode": "listen"}).status_code == 403
        r = c.supervisor.post(f"/api/v1/agents/{ann}/monitor", json={"mode": "listen"})
        assert r.status_code == 202, r.text
        assert r.json() == {"agent_id": str(ann), "call_id": str(call_id), "mode": "listen"}

        def supervisor_leg() -> list[InteractionLeg]:
            with db.scoped() as session:
                set_tenant(session, c.bank.id)
                stmt = select(InteractionLeg).where(InteractionLeg.party == "supervisor")
                return [leg for leg in session.scalars(stmt) if leg.monitor_mode == "listen"]

        _until(lambda: len(supervisor_leg()) == 1)
        assert supervisor_leg()[0].agent_id == supervisor_id
        assert board.stats.connected == 1

    with db.scoped() as session:
        set_tenant(session, c.bank.id)
        audited = session.scalars(select(AuditEvent).where(AuditEvent.action == "acd.call.monitor")).all()
    assert [(a.object_id, a.details["mode"], a.details["call_id"]) for a in audited] == [
        (str(ann), "listen", str(call_id))
    ]
