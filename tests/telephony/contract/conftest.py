"""Engine fixtures for the contract tests: every scenario runs once per engine in ``ENGINES``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from telephony.contract.harness import EngineHarness, SimHarness
from telephony.eventlog import EventLog

T = TypeVar("T")

# A sip harness joins this table once the sip engine exists; it should skip itself (pytest.skip with the
# reason) when SIPp or the pjsua2 wheel is missing on the machine.
ENGINES: dict[str, Callable[[Path], EngineHarness]] = {
    "sim": SimHarness,
}


@pytest.fixture(params=sorted(ENGINES))
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> EngineHarness:
    """A fresh engine of each kind under test."""
    factory: Callable[[Path], EngineHarness] = ENGINES[request.param]
    return factory(tmp_path)


Scenario = Callable[[EngineHarness, EventLog], Awaitable[T]]


def play_out(harness: EngineHarness, scenario: Scenario[T]) -> T:
    """Run one scenario in a fresh event loop with an event log opened before anything happens."""

    async def main() -> T:
        await harness.start()
        log = EventLog(harness.engine)
        try:
            return await harness.run(scenario(harness, log))
        finally:
            await harness.stop()
            await log.close()

    return asyncio.run(main())
