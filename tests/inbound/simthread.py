"""A switchboard on the simulated engine in a thread of its own, with the app's routing owners, as the services
run it beside the web app: for tests that drive a call through the API or the browser."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI

from callvault.campaigns.agents import EngineClock, SimTimebase
from callvault.core import clock
from callvault.core.db import Database
from callvault.inbound.switchboard import Switchboard, inline
from callvault.interactions.recorder import CallRecorder
from callvault.security.principal import system_principal
from callvault.sipedge import service as sipedge
from callvault.sipedge.schemas import DidAssign, EndpointCreate, EntryKind
from callvault.telephony.sim import Directory, FarEnd, SimEngine
from callvault.tenancy import service as tenancy
from tests.acd.live import Center
from tests.inbound.floors import new_did

LIMIT_S = 20.0  # a bound against hangs, not a performance assertion


def phones_and_number(db: Database, c: Center, phones: dict[str, uuid.UUID]) -> str:
    with db.scoped() as session:
        inst = tenancy.bind(session, slug=c.bank.slug)
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
        until(lambda: bool(ready))
        yield ready[0]
    finally:
        stop.set()
        thread.join(LIMIT_S)


def until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + LIMIT_S
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
