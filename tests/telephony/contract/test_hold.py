"""Hold and unhold a leg the application handles (an IVR caller), with music on hold."""

from __future__ import annotations

import pytest

from callvault.telephony import CallHeld, CallOffered, CallUnheld, PlaybackOutcome
from callvault.telephony.sim import FarEnd
from tests.telephony.contract.conftest import play_out
from tests.telephony.contract.harness import EngineHarness
from tests.telephony.eventlog import EventLog

pytestmark = pytest.mark.engine_features("hold")


def test_hold_with_music_then_unhold(harness: EngineHarness) -> None:
    async def scenario(h: EngineHarness, log: EventLog) -> None:
        h.call_in(FarEnd(hangup_after=30.0), from_uri="sip:+4930111222@pstn.example", to_uri="sip:q@bank.example")
        call = (await log.wait_for(CallOffered)).call_id
        await h.engine.answer(call)
        await h.engine.hold(call, music=h.music)
        await h.engine.hold(call, music=h.music)  # already held: no second event
        await log.wait_for(CallHeld, call)
        # A prompt started while held runs to its end unheard.
        assert await h.engine.play(call, h.prompt) is PlaybackOutcome.COMPLETED
        await h.engine.unhold(call)
        await log.wait_for(CallUnheld, call)
        assert log.names(call) == ["call.offered", "call.answered", "call.held", "call.unheld"]
        await h.engine.hangup(call)

    play_out(harness, scenario)
