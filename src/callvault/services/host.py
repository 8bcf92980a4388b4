"""The service host: named background loops, supervised, each restarted with back-off when a pass raises.

A loop is one pass (an async function) repeated every `interval` seconds. Loops of one *group* share a thread and
its asyncio event loop (the trigger worker and the campaign runner share the telephony engine, which belongs to
one event loop); every group has its own thread, so a pass blocking on the database never delays another group.

A pass that raises is logged, counted in ``callvault_service_restarts_total`` and run again after a back-off that
doubles from `restart_min` to `restart_max` and resets after a pass that succeeds. `stop` asks every loop to end
after its current pass and cancels passes still running after the grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog
from prometheus_client import Counter, Gauge

log = structlog.get_logger(__name__)

RESTARTS = Counter("callvault_service_restarts_total", "Loop passes that raised and were restarted", ["service"])
PASSES = Counter("callvault_service_passes_total", "Loop passes completed", ["service"])
RUNNING = Gauge("callvault_service_running", "1 while the loop runs in this process", ["service"])
LAST_SUCCESS = Gauge("callvault_service_last_success_seconds", "Unix time of the last pass that succeeded", ["service"])

Pass = Callable[[], Awaitable[object]]
Hook = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Loop:
    """A named background loop: `run_pass` every `interval` seconds, in the thread of `group`."""

    name: str
    run_pass: Pass
    interval: float
    group: str = ""

    @property
    def thread_group(self) -> str:
        return self.group or self.name


@dataclass
class _Group:
    name: str
    loops: list[Loop]
    on_stop: list[Hook] = field(default_factory=list)
    thread: threading.Thread | None = None
    event_loop: asyncio.AbstractEventLoop | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    wake: asyncio.Event | None = None  # set (from any thread, through the event loop) when the host stops


class ServiceHost:
    """Runs loops in background threads until `stop`. `on_stop(group, hook)` registers clean-up (e.g. closing
    an engine) that runs in the group's event loop after its loops ended."""

    def __init__(self, loops: list[Loop], *, restart_min: float = 1.0, restart_max: float = 60.0) -> None:
        self.restart_min = restart_min
        self.restart_max = max(restart_min, restart_max)
        self._stopping = threading.Event()
        self._groups: dict[str, _Group] = {}
        for loop in loops:
            self._groups.setdefault(loop.thread_group, _Group(loop.thread_group, [])).loops.append(loop)

    @property
    def names(self) -> list[str]:
        return [loop.name for group in self._groups.values() for loop in group.loops]

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def on_stop(self, group: str, hook: Hook) -> None:
        if group in self._groups:
            self._groups[group].on_stop.append(hook)

    def start(self) -> None:
        for group in self._groups.values():
            ready = threading.Event()
            group.thread = threading.Thread(
                target=self._run_group, args=(group, ready), name=f"service-{group.name}", daemon=True
            )
            group.thread.start()
            ready.wait(10)
        if self._groups:
            log.info("services started", services=self.names)

    def stop(self, *, grace: float = 10.0) -> None:
        """Let every loop finish its pass (up to `grace` seconds), then cancel what still runs; joins the threads."""
        self._stopping.set()
        for group in self._groups.values():
            if group.event_loop is not None and group.wake is not None:
                with contextlib.suppress(RuntimeError):  # its loop has ended already
                    group.event_loop.call_soon_threadsafe(group.wake.set)
        deadline = time.monotonic() + grace
        for group in self._groups.values():
            if group.thread is not None:
                group.thread.join(max(0.0, deadline - time.monotonic()))
        for group in self._groups.values():
            if group.thread is not None and group.thread.is_alive() and group.event_loop is not None:
                for task in group.tasks:
                    with contextlib.suppress(RuntimeError):  # the loop ended meanwhile
                        group.event_loop.call_soon_threadsafe(task.cancel)
                group.thread.join(10)
        if self._groups:
            log.info("services stopped", services=self.names)

    def _run_group(self, group: _Group, ready: threading.Event) -> None:
        async def main() -> None:
            group.event_loop = asyncio.get_running_loop()
            group.wake = wake = asyncio.Event()
            if self.stopping:
                wake.set()
            group.tasks = [asyncio.ensure_future(self._supervise(loop, wake)) for loop in group.loops]
            ready.set()
            try:
                await asyncio.gather(*group.tasks, return_exceptions=True)
            finally:
                for hook in group.on_stop:
                    try:
                        await hook()
                    except Exception:
                        log.exception("service clean-up failed", group=group.name)

        asyncio.run(main())

    async def _supervise(self, loop: Loop, wake: asyncio.Event) -> None:
        RUNNING.labels(loop.name).set(1)
        backoff = self.restart_min
        try:
            while not self.stopping:
                try:
                    await loop.run_pass()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    RESTARTS.labels(loop.name).inc()
                    log.exception("service pass failed; restarting", service=loop.name, error=type(exc).__name__)
                    await _pause(wake, backoff)
                    backoff = min(self.restart_max, backoff * 2)
                    continue
                PASSES.labels(loop.name).inc()
                LAST_SUCCESS.labels(loop.name).set(time.time())
                backoff = self.restart_min
                await _pause(wake, loop.interval)
        finally:
            RUNNING.labels(loop.name).set(0)


async def _pause(wake: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds`, or less when the host stops."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(wake.wait(), seconds)


def stop_signals(signals: tuple[int, ...] | None = None) -> threading.Event:
    """An event set on SIGINT/SIGTERM; install it before announcing the services, so no signal finds Python's
    default handler (which would end the process without stopping the loops)."""
    import signal

    received = threading.Event()
    for number in signals or (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: received.set())
    return received


def run_until_signalled(host: ServiceHost, received: threading.Event) -> None:
    """Block the main thread until `received` is set, then stop the host (what `callvault worker` does)."""
    with contextlib.suppress(KeyboardInterrupt):
        while not received.wait(1.0):
            pass
    host.stop()
