"""The sip engine supervises its media worker: a crash ends the worker's legs and a new worker takes calls."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from callvault.telephony import CallHangup, CallOffered, HangupCause
from callvault.telephony.sim import FarEnd
from tests.telephony.contract.conftest import play_out
from tests.telephony.contract.harness import EngineHarness
from tests.telephony.contract.sip_harness import SipHarness
from tests.telephony.eventlog import EventLog

CUSTOMER = "sip:+4930111222@pstn.example"
IVR = "sip:service@bank.example"


def test_worker_crash_ends_legs_and_worker_is_restarted(tmp_path: Path) -> None:
    harness = SipHarness(tmp_path)

    async def scenario(h: EngineHarness, log: EventLog) -> None:
        h.call_in(FarEnd(hangup_after=30.0), from_uri=CUSTOMER, to_uri=IVR)
        first = (await log.wait_for(CallOffered)).call_id
        await h.engine.answer(first)
        crashed_pid = harness.sip.worker_pid
        assert crashed_pid is not None
        os.kill(crashed_pid, signal.SIGKILL)  # the worker this test started
        hangup = await log.wait_for(CallHangup, first)
        assert hangup.cause is HangupCause.WORKER_CRASHED
        # The restarted worker answers the next caller on the same SIP port.
        h.call_in(FarEnd(hangup_after=1.0), from_uri=CUSTOMER, to_uri=IVR)
        second = (await log.wait_for(CallOffered, nth=2)).call_id
        assert second != first
        assert harness.sip.worker_pid != crashed_pid
        assert harness.sip.restarts == 1
        await h.engine.answer(second)
        assert (await log.wait_for(CallHangup, second)).cause is HangupCause.NORMAL

    play_out(harness, scenario)
