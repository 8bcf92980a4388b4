"""Driving the sim engine while a real outside party (the institution's HTTP server) is being waited for.

The sim engine's own driver jumps virtual time to the next timer whenever every task waits; while a look-up is
on the wire that would race the caller's script ahead of a server that answers in real time. So here virtual
time follows the wall clock while ``busy()`` holds, and jumps only when nothing outside is awaited.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from callvault.telephony import CallId, PlaybackOutcome, Prompt, SpeechText
from callvault.telephony.sim import SimEngine, SimulationStalled
from callvault.telephony.sim.driver import settle

T = TypeVar("T")
STEP = 0.01


async def drive(sim: SimEngine, work: Awaitable[T], *, busy: Callable[[], bool], limit: float = 900.0) -> T:
    task = asyncio.ensure_future(work)
    mark: float | None = None
    try:
        while True:
            await settle()
            if task.done():
                return task.result()
            if busy():
                mark = time.monotonic() if mark is None else mark
                await asyncio.sleep(STEP)
                # Advance by the wall time that really passed since the last step, loop overhead included.
                target, mark = sim.clock.now + (time.monotonic() - mark), time.monotonic()
                while (due := sim.clock.next_due()) is not None and due <= target:
                    sim.clock.fire_next()
                    await settle()
                sim.clock.move_to(target)
                continue
            mark = None
            due = sim.clock.next_due()
            if due is None or due > limit:
                raise SimulationStalled(f"stalled at t={sim.clock.now:.3f}s")
            sim.clock.fire_next()
    finally:
        if not task.done():
            task.cancel()


@dataclass(frozen=True)
class Played:
    start: float
    end: float
    text: str
    outcome: PlaybackOutcome


class SpokenSimEngine(SimEngine):
    """The sim engine, noting what was played when (the sim renders speech as tones, so keep the text)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.played: list[Played] = []

    async def play(self, call_id: CallId, prompt: Prompt, *, interrupt_on_dtmf: bool = False) -> PlaybackOutcome:
        start = self.clock.now
        outcome = await super().play(call_id, prompt, interrupt_on_dtmf=interrupt_on_dtmf)
        text = prompt.text if isinstance(prompt, SpeechText) else str(prompt.path.name)
        self.played.append(Played(start, self.clock.now, text, outcome))
        return outcome
