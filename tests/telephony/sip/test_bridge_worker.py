"""Bridging inside the media worker survives legs that disappear mid-bridge."""

from __future__ import annotations

from pathlib import Path

from callvault.telephony import CallAnswered, CallHangup, CallId, CallOffered, CallUnbridged, RecordingReady
from callvault.telephony.sim import FarEnd
from tests.telephony.contract.conftest import play_out
from tests.telephony.contract.harness import EngineHarness
from tests.telephony.contract.sip_harness import SipHarness
from tests.telephony.contract.test_bridge_audio import AGENT_HZ, CUSTOMER_HZ, tones_in
from tests.telephony.eventlog import EventLog

QUEUE = "sip:cards@bank.example"


def test_agent_vanishing_mid_bridge_leaves_worker_and_customer_up(tmp_path: Path) -> None:
    harness = SipHarness(tmp_path)

    async def scenario(h: EngineHarness, log: EventLog) -> None:
        h.call_in(FarEnd(voice_hz=CUSTOMER_HZ), from_uri="sip:+4930111222@pstn.example", to_uri=QUEUE)
        customer = (await log.wait_for(CallOffered)).call_id
        await h.engine.answer(customer)
        pid = harness.sip.worker_pid
        # The first agent's phone drops the call 1.5 s into the bridge, while both legs are recorded.
        flaky = await h.engine.originate(
            h.callee("a1", FarEnd(answer_after=0.2, hangup_after=1.5)), QUEUE, ring_timeout=5
        )
        await log.wait_for(CallAnswered, flaky)
        await h.engine.bridge(customer, flaky)
        await h.engine.start_recording(customer)
        await h.engine.start_recording(flaky)
        await log.wait_for(CallHangup, flaky)
        await log.wait_for(CallUnbridged, customer)
        await log.wait_for(RecordingReady, flaky)
        # The worker carries on: a second agent is bridged to the same customer and they hear each other.
        agent = await h.engine.originate(
            h.callee("a2", FarEnd(answer_after=0.2, voice_hz=AGENT_HZ)), QUEUE, ring_timeout=5
        )
        await log.wait_for(CallAnswered, agent)
        await h.engine.bridge(customer, agent)
        await h.pause(0.5)
        recording = await h.engine.start_recording(agent)
        await h.pause(1.5)
        await h.engine.stop_recording(recording)
        ready = next(r for r in await _ready(log, agent) if r.recording_id == recording)
        assert tones_in(ready.path) == {CUSTOMER_HZ, AGENT_HZ}
        assert (harness.sip.worker_pid, harness.sip.restarts) == (pid, 0)
        assert not log.of(CallHangup, customer)
        await h.engine.hangup(customer)
        await h.engine.hangup(agent)

    play_out(harness, scenario)


async def _ready(log: EventLog, leg: CallId) -> list[RecordingReady]:
    await log.wait_for(RecordingReady, leg)
    return log.of(RecordingReady, leg)
