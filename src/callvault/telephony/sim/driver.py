"""Driving virtual time: advance the clock only when every asyncio task is waiting."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from callvault.telephony.sim.clock import VirtualClock

T = TypeVar("T")

# Upper bound of loop turns to wait for quiescence; reached only by busy-looping tasks.
_MAX_SETTLE_TURNS = 10_000
_FALLBACK_TURNS = 64


class SimulationStalled(RuntimeError):
    """The driven work waits, but nothing in the simulation will ever wake it."""


async def settle() -> None:
    """Yield to the event loop until no callback is ready, i.e. every task waits on something.

    CPython's loop keeps ready callbacks in ``_ready``; when it is empty on our turn, only a timer firing
    (virtual time moving) can wake anything. Other loops get a fixed number of turns.
    """
    loop = asyncio.get_running_loop()
    ready = getattr(loop, "_ready", None)
    turns = _MAX_SETTLE_TURNS if ready is not None else _FALLBACK_TURNS
    for _ in range(turns):
        await asyncio.sleep(0)
        if ready is not None and not ready:
            return


class VirtualTimeDriver:
    """Runs asyncio work against a ``VirtualClock``.

    Drive from outside with ``run`` (for a whole scenario), or ``advance`` / ``run_until_idle`` (step by
    step). Code running *inside* ``run`` waits on virtual time with ``sleep``, never with the driving methods.
    """

    clock: VirtualClock
    _driving: bool = False

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of virtual time (the driver moves the clock)."""
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        timer = self.clock.call_later(seconds, lambda: None if woken.done() else woken.set_result(None))
        try:
            await woken
        finally:
            timer.cancel()

    def _start_driving(self) -> None:
        if self._driving:
            raise RuntimeError("the simulation is already being driven; use sleep() inside run()")
        self._driving = True

    async def run(self, work: Awaitable[T], *, limit: float | None = None) -> T:
        """Run ``work`` to completion, advancing virtual time whenever all tasks wait.

        Raises ``SimulationStalled`` if ``work`` waits while no timer is pending (it would wait forever) or
        the next timer lies beyond ``limit`` virtual seconds.
        """
        self._start_driving()
        task = asyncio.ensure_future(work)
        try:
            while True:
                await settle()
                if task.done():
                    return task.result()
                due = self.clock.next_due()
                if due is None or (limit is not None and due > limit):
                    raise SimulationStalled(f"stalled at t={self.clock.now:.3f}s with nothing scheduled")
                self.clock.fire_next()
        finally:
            self._driving = False
            if not task.done():
                task.cancel()

    async def advance(self, seconds: float) -> None:
        """Let ``seconds`` of virtual time pass, firing every timer due meanwhile."""
        self._start_driving()
        try:
            until = self.clock.now + seconds
            await settle()
            while (due := self.clock.next_due()) is not None and due <= until:
                self.clock.fire_next()
                await settle()
            self.clock.move_to(until)
        finally:
            self._driving = False

    async def run_until_idle(self) -> None:
        """Fire timers until none is pending."""
        self._start_driving()
        try:
            await settle()
            while self.clock.fire_next():
                await settle()
        finally:
            self._driving = False
