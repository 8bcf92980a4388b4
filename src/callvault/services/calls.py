"""The telephony engine the trigger worker and the campaign runner dial on, as the service host runs them.

`SimCalls`: the in-process simulated engine (the embedded demo's default). Each pass gets a fresh engine and runs
in virtual time, so a pass completes at once: every dialled number answers after `sim_answer_seconds` and presses
`sim_callee_keys`. `SipCalls`: one pjsua2-backed `SipEngine` for the process, started on first use, in real time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Protocol, TypeVar

from callvault.campaigns.agents import EngineClock, SimTimebase, Timebase
from callvault.config import Settings
from callvault.core import clock
from callvault.ivr.interpreter import Clock
from callvault.telephony.port import Engine
from callvault.telephony.sim import Directory, FarEnd, SimEngine

T = TypeVar("T")
Work = Callable[[Engine, Clock | None, Timebase], Awaitable[T]]


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
        """Run `work(engine, interpreter clock, timebase)` on the engine."""
        ...

    async def close(self) -> None: ...


class SimCalls:
    simulated = True

    def __init__(self, *, keys: str, answer_after: float, recordings_dir: Path) -> None:
        self.keys, self.answer_after, self.recordings_dir = keys, answer_after, recordings_dir
        self._runs = 0

    async def run(self, work: Work[T]) -> T:
        self._runs += 1
        self.recordings_dir.mkdir(parents=True, exist_ok=True)
        directory = EveryNumberAnswers(keys=self.keys, answer_after=self.answer_after)
        sim = SimEngine(directory=directory, recordings_dir=self.recordings_dir, seed=self._runs)
        timebase = SimTimebase(sim, clock.now())
        try:
            return await sim.run(work(sim, EngineClock(timebase), timebase))
        finally:
            await sim.close()

    async def close(self) -> None:
        return None


class SipCalls:
    simulated = False

    def __init__(self, *, workdir: Path, sip_port: int, rtp_port: int, address: str) -> None:
        self.workdir, self.sip_port, self.rtp_port, self.address = workdir, sip_port, rtp_port, address
        self._engine: Engine | None = None
        self._starting = asyncio.Lock()

    async def _started(self) -> Engine:
        async with self._starting:
            if self._engine is None:
                from callvault.telephony.sip.engine import SipEngine

                self.workdir.mkdir(parents=True, exist_ok=True)
                engine = SipEngine(
                    workdir=self.workdir, sip_port=self.sip_port, rtp_port=self.rtp_port, address=self.address
                )
                await engine.start()
                self._engine = engine
            return self._engine

    async def run(self, work: Work[T]) -> T:
        engine = await self._started()
        return await work(engine, None, WallTimebase())

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.close()
            self._engine = None


def call_engine(settings: Settings) -> CallEngine:
    if settings.telephony_engine == "sip":
        return SipCalls(
            workdir=settings.data_dir / "sip",
            sip_port=settings.sip_port,
            rtp_port=settings.sip_rtp_port,
            address=settings.sip_address,
        )
    return SimCalls(
        keys=settings.sim_callee_keys,
        answer_after=settings.sim_answer_seconds,
        recordings_dir=settings.data_dir / "sim-recordings",
    )
