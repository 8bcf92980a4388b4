"""The telephony engine the trigger worker and the campaign runner dial on, as the service host runs them.

`SimCalls`: the in-process simulated engine (the embedded demo's default). Each pass gets a fresh engine and runs
in virtual time, so a pass completes at once: every dialled number answers after `sim_answer_seconds` and presses
`sim_callee_keys`. `SipCalls`: one pjsua2-backed `SipEngine` for the process, started on first use, in real time.

Each engine has a `CallRecorder` on its event stream: the work is handed it and claims every leg it originates,
so the calls the services place become call records (and so are rated and billed). On the sim engine the
recorder is per pass (call ids restart with each engine) and writes the pass's records once the pass ended; on
the SIP engine it runs beside the calls for the life of the engine.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol, TypeVar

from callvault.campaigns.agents import EngineClock, SimTimebase, Timebase
from callvault.config import Settings
from callvault.core import clock
from callvault.core.db import Database
from callvault.interactions.recorder import CallRecorder, LegClaims
from callvault.ivr.interpreter import Clock
from callvault.telephony.events import CallEvent
from callvault.telephony.port import Engine
from callvault.telephony.sim import Directory, FarEnd, SimEngine

T = TypeVar("T")
Work = Callable[[Engine, Clock | None, Timebase, LegClaims], Awaitable[T]]


class WallTimebase:
    """Real time, for a real engine."""

    def now(self) -> datetime:
        return clock.now()

    def seconds(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class EveryNumberAnswers(Directory):
    """A simulated PSTN where every E.164 number answers, presses the configured keys and stays on the line."""

    def __init__(self, *, keys: str, answer_after: float) -> None:
        super().__init__()
        self.callee = FarEnd(answer_after=answer_after, digits=FarEnd.presses(keys, start=1.0), hangup_after=120.0)

    def lookup(self, uri: str) -> FarEnd | None:
        found = super().lookup(uri)
        if found is None and uri.startswith("sip:+"):
            return self.callee
        return found


class CallEngine(Protocol):
    simulated: bool

    async def run(self, work: Work[T]) -> T:
        """Run `work(engine, interpreter clock, timebase, recorder)` on the engine."""
        ...

    async def close(self) -> None: ...


class SimCalls:
    simulated = True

    def __init__(self, db: Database, *, keys: str, answer_after: float, recordings_dir: Path) -> None:
        self.db = db
        self.keys, self.answer_after, self.recordings_dir = keys, answer_after, recordings_dir
        self._runs = 0

    async def run(self, work: Work[T]) -> T:
        self._runs += 1
        self.recordings_dir.mkdir(parents=True, exist_ok=True)
        directory = EveryNumberAnswers(keys=self.keys, answer_after=self.answer_after)
        sim = SimEngine(directory=directory, recordings_dir=self.recordings_dir, seed=self._runs)
        timebase = SimTimebase(sim, clock.now())
        # Virtual seconds onto the pass's wall-clock start, as the work's own times (timebase.now) are.
        recorder = CallRecorder(self.db, wall_clock=lambda at: timebase.start + timedelta(seconds=at - timebase.offset))
        events = sim.events()  # subscribed before the first originate: no event of the pass is missed
        try:
            return await sim.run(work(sim, EngineClock(timebase), timebase, recorder))
        finally:
            await sim.close()
            # The records are written after the pass (in virtual time it took no wall time); the stream ended
            # with the engine, so this returns once every event is applied.
            await recorder.run(events)

    async def close(self) -> None:
        return None


class EventHandler(Protocol):
    async def handle(self, event: CallEvent) -> None: ...


class SipCalls:
    simulated = False

    def __init__(
        self,
        db: Database,
        *,
        workdir: Path,
        sip_port: int,
        rtp_port: int,
        address: str,
        front: str | None = None,
    ) -> None:
        self.workdir, self.sip_port, self.rtp_port, self.address = workdir, sip_port, rtp_port, address
        self.front = front  # "host:port" of the SIP front that reaches agents' phones and trunks
        self.recorder = CallRecorder(db)
        # The inbound switchboard, once attached, gets every event (it applies them to the recorder itself,
        # before acting on them); until then the recorder alone.
        self.handler: EventHandler | None = None
        self._engine: Engine | None = None
        self._recording: asyncio.Task[None] | None = None
        self._starting = asyncio.Lock()

    async def started(self) -> Engine:
        """The engine, started on first use."""
        async with self._starting:
            if self._engine is None:
                from callvault.telephony.sip.engine import SipEngine

                self.workdir.mkdir(parents=True, exist_ok=True)
                engine = SipEngine(
                    workdir=self.workdir,
                    sip_port=self.sip_port,
                    rtp_port=self.rtp_port,
                    address=self.address,
                    front=self.front,
                )
                await engine.start()
                self._recording = asyncio.ensure_future(self._pump(engine.events()))
                self._engine = engine
            return self._engine

    async def _pump(self, events: AsyncIterator[CallEvent]) -> None:
        async for event in events:
            handler = self.handler
            if handler is not None:
                await handler.handle(event)
            else:
                await asyncio.to_thread(self.recorder.apply, event)

    async def run(self, work: Work[T]) -> T:
        engine = await self.started()
        return await work(engine, None, WallTimebase(), self.recorder)

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.close()
            self._engine = None
        if self._recording is not None:
            await self._recording  # the stream ended with the engine: the last hangups are written first
            self._recording = None


def sip_calls(settings: Settings, db: Database) -> SipCalls:
    """The process's sip engine (`CALLVAULT_SIP_ADDRESS:CALLVAULT_SIP_PORT`, agents and trunks through
    `CALLVAULT_SIP_FRONT`)."""
    return SipCalls(
        db,
        workdir=settings.data_dir / "sip",
        sip_port=settings.sip_port,
        rtp_port=settings.sip_rtp_port,
        address=settings.sip_address,
        front=settings.sip_front or None,
    )


def call_engine(settings: Settings, db: Database) -> CallEngine:
    if settings.telephony_engine == "sip":
        return sip_calls(settings, db)
    return SimCalls(
        db,
        keys=settings.sim_callee_keys,
        answer_after=settings.sim_answer_seconds,
        recordings_dir=settings.data_dir / "sim-recordings",
    )
