"""Engine fixtures for the contract tests: every scenario runs once per engine in ``ENGINES``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from tests.telephony.contract.harness import EngineHarness, SimHarness
from tests.telephony.contract.sip_harness import SipHarness
from tests.telephony.eventlog import EventLog

T = TypeVar("T")

# Every scenario runs on every engine here. A harness skips itself (with the reason) when its engine cannot
# run on the machine, and scenarios marked ``engine_features`` skip engines that lack a feature.
ENGINES: dict[str, Callable[[Path], EngineHarness]] = {
    "sim": SimHarness,
    "sip": SipHarness,
}


@pytest.fixture(params=sorted(ENGINES))
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> EngineHarness:
    """A fresh engine of each kind under test."""
    needed: set[str] = set()
    for marker in request.node.iter_markers("engine_features"):
        needed.update(marker.args)
    factory: Callable[[Path], EngineHarness] = ENGINES[request.param]
    built = factory(tmp_path)
    missing = needed - built.features
    if missing:
        pytest.skip(f"{request.param} engine does not carry {', '.join(sorted(missing))} yet")
    return built


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
