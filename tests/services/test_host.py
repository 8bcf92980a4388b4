"""The service host: a pass that raises is restarted after a back-off that doubles, counted in Prometheus; stop
ends the loops (cancelling a pass that does not finish in the grace period) and joins their threads."""

from __future__ import annotations

import asyncio
import threading
import time

import structlog
from prometheus_client import REGISTRY

from callvault.services.host import Loop, ServiceHost


def _sample(name: str, service: str) -> float:
    return REGISTRY.get_sample_value(name, {"service": service}) or 0.0


def _wait(condition: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_pass_that_raises_is_restarted_with_growing_back_off_and_counted() -> None:
    failures: list[float] = []
    successes: list[float] = []

    async def flaky() -> None:
        if len(failures) < 4:
            failures.append(time.monotonic())
            raise RuntimeError("the database went away")
        successes.append(time.monotonic())

    # The first traceback the console logger renders costs a few tenths of a second (imports): pay it up front,
    # so the gaps below measure the back-off.
    try:
        raise RuntimeError("warm-up")
    except RuntimeError:
        structlog.get_logger(__name__).exception("warm-up of the traceback renderer")
    restarts_before = _sample("callvault_service_restarts_total", "flaky")
    passes_before = _sample("callvault_service_passes_total", "flaky")
    host = ServiceHost([Loop("flaky", flaky, interval=0.01)], restart_min=0.4, restart_max=1.2)
    host.start()
    try:
        _wait(lambda: len(successes) >= 3)
        assert _sample("callvault_service_running", "flaky") == 1
    finally:
        host.stop()
    assert _sample("callvault_service_restarts_total", "flaky") - restarts_before == 4
    assert _sample("callvault_service_passes_total", "flaky") - passes_before >= 3
    assert _sample("callvault_service_running", "flaky") == 0
    gaps = [b - a for a, b in zip(failures, failures[1:] + successes[:1], strict=False)]
    # At least 0.4, 0.8, then the cap of 1.2 (plus the time to log the failure with its traceback: generous
    # bounds above, this machine is shared).
    for gap, back_off in zip(gaps, (0.4, 0.8, 1.2, 1.2), strict=True):
        assert back_off <= gap < back_off + 1.0, gaps
    assert gaps[3] < 2.4, "the back-off is capped"
    # After a pass that succeeds the loop runs at its own interval again.
    assert successes[1] - successes[0] < 0.09


def test_stop_cancels_a_pass_that_outlives_the_grace_period_and_joins_every_thread() -> None:
    started = threading.Event()
    cancelled = threading.Event()
    quick: list[int] = []

    async def stuck() -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def tick() -> None:
        quick.append(1)

    host = ServiceHost([Loop("stuck", stuck, interval=1.0), Loop("tick", tick, interval=30.0)])
    host.start()
    assert started.wait(10)
    _wait(lambda: quick)
    began = time.monotonic()
    host.stop(grace=0.5)
    # The quick loop was waiting 30 s for its next pass: stop wakes it at once; the stuck one is cancelled.
    assert time.monotonic() - began < 5
    assert cancelled.is_set() and quick == [1]
    assert not [t for t in threading.enumerate() if t.name in ("service-stuck", "service-tick")]


def test_loops_of_one_group_share_a_thread_and_other_groups_have_their_own() -> None:
    seen: dict[str, str] = {}

    def recorder(name: str) -> Loop:
        async def run() -> None:
            seen[name] = threading.current_thread().name

        return Loop(name, run, interval=0.05, group="calls" if name in ("trigger", "campaigns") else "")

    host = ServiceHost([recorder(n) for n in ("trigger", "campaigns", "webhooks")])
    host.start()
    try:
        _wait(lambda: len(seen) == 3)
    finally:
        host.stop()
    assert seen == {"trigger": "service-calls", "campaigns": "service-calls", "webhooks": "service-webhooks"}
