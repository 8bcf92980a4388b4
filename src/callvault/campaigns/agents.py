"""What the runner needs from agents, the engine's clock, and agentless call handling; and simulated agents.

`AgentPool` is the runner's view of the agents working a campaign: their states for the pacing policy, taking
the longest-idle one for an answered call, and the conversation itself (bridged to the agent's leg in
production, a drawn handling time in the simulation).
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

import numpy as np

from callvault.dialer.models import AgentStates
from callvault.ivr.flow import FlowDocument
from callvault.ivr.interpreter import Interpreter
from callvault.telephony.events import CallId, HangupCause
from callvault.telephony.port import Engine, TelephonyError
from callvault.telephony.sim import SimEngine


class Timebase(Protocol):
    """Wall time for the database (calling windows, retries) and the engine's seconds for pacing."""

    def now(self) -> datetime: ...

    def seconds(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SimTimebase:
    """The sim engine's virtual clock, mapped onto a wall-clock start."""

    def __init__(self, engine: SimEngine, start: datetime) -> None:
        self.engine = engine
        self.start = start
        self.offset = engine.clock.now

    def seconds(self) -> float:
        return self.engine.clock.now

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.engine.clock.now - self.offset)

    async def sleep(self, seconds: float) -> None:
        await self.engine.sleep(seconds)


class AgentPool(Protocol):
    def states(self, now_s: float) -> AgentStates:
        """Idle and busy agents with their time in state, as the pacing policy sees them."""
        ...

    def take(self, now_s: float) -> str | None:
        """Reserve the longest-idle agent for an answered call; None when every agent is busy."""
        ...

    async def converse(self, agent: str, call_id: CallId) -> None:
        """Connect the call to the agent; return when the call and the agent's wrap-up are over."""
        ...


class AgentlessHandler(Protocol):
    async def __call__(self, call_id: CallId) -> str:
        """Run the campaign's flow on an answered call; return the keys pressed."""
        ...


class SimulatedAgents:
    """`count` agents whose handling time (talk plus wrap-up) is drawn from `handling_s` (exponential mean by
    default); the customer leg is hung up when the agent is done."""

    def __init__(
        self,
        engine: SimEngine,
        *,
        count: int,
        mean_handling_s: float = 60.0,
        seed: int = 0,
        draw: Callable[[random.Random], float] | None = None,
    ) -> None:
        self.engine = engine
        self._rng = random.Random(seed)  # noqa: S311 - simulation draws, not secrets
        self._draw = draw or (lambda rng: rng.expovariate(1.0 / mean_handling_s))
        self.idle_since: dict[str, float] = {f"agent-{i}": engine.clock.now for i in range(count)}
        self.busy_since: dict[str, float] = {}
        self.handled = 0

    def states(self, now_s: float) -> AgentStates:
        return AgentStates(
            idle_elapsed_s=np.array([now_s - t for t in self.idle_since.values()], dtype=np.float64),
            busy_elapsed_s=np.array([now_s - t for t in self.busy_since.values()], dtype=np.float64),
        )

    def take(self, now_s: float) -> str | None:
        if not self.idle_since:
            return None
        agent = min(self.idle_since, key=self.idle_since.__getitem__)
        del self.idle_since[agent]
        self.busy_since[agent] = now_s
        return agent

    async def converse(self, agent: str, call_id: CallId) -> None:
        try:
            await self.engine.sleep(max(0.0, self._draw(self._rng)))
            with contextlib.suppress(TelephonyError):  # the customer may have hung up first
                await self.engine.hangup(call_id, HangupCause.NORMAL)
        finally:
            self.busy_since.pop(agent, None)
            self.idle_since[agent] = self.engine.clock.now
            self.handled += 1


class EngineClock:
    """The interpreter's clock on the runner's timebase (virtual seconds on the sim engine)."""

    def __init__(self, timebase: Timebase) -> None:
        self.timebase = timebase

    def now(self) -> float:
        return self.timebase.seconds()

    async def sleep(self, seconds: float) -> None:
        await self.timebase.sleep(seconds)


class FlowHandler:
    """Runs the campaign's published IVR flow on the answered call; the keys are the digits the flow collected."""

    def __init__(self, interpreter: Interpreter, document: FlowDocument) -> None:
        self.interpreter = interpreter
        self.document = document

    async def __call__(self, call_id: CallId) -> str:
        outcome = await self.interpreter.run(self.document, call_id)
        return "".join(outcome.context.digits)


class KeypressCapture:
    """A minimal agentless handler: play the message, collect up to `max_digits` keys, hang up."""

    def __init__(self, engine: Engine, *, message: str, max_digits: int = 1, wait_s: float = 8.0) -> None:
        self.engine = engine
        self.message = message
        self.max_digits = max_digits
        self.wait_s = wait_s

    async def __call__(self, call_id: CallId) -> str:
        from callvault.telephony.port import SpeechText

        try:
            await self.engine.play(call_id, SpeechText(self.message, language="zh"), interrupt_on_dtmf=True)
            got = await self.engine.collect_digits(
                call_id, max_digits=self.max_digits, digit_timeout=self.wait_s, terminator="#"
            )
            await self.engine.hangup(call_id)
            return got.digits
        except TelephonyError:
            return ""
