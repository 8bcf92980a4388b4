"""Who hears whom: bridged talk, hold inside a bridge, and supervisor listen / whisper / barge.

Each far end "speaks" its own tone (``voice_hz``); a leg's recording holds what the leg says and hears, so
the tones found in each leg's recording show the audio directions.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from callvault.telephony import CallAnswered, CallId, CallOffered, MonitorMode, RecordingReady
from callvault.telephony.sim import FarEnd
from tests.telephony.contract.conftest import play_out
from tests.telephony.contract.harness import EngineHarness
from tests.telephony.eventlog import EventLog

pytestmark = pytest.mark.engine_features("originate", "bridge", "recording")

CUSTOMER_HZ, AGENT_HZ, SUPERVISOR_HZ, MUSIC_HZ = 400.0, 700.0, 1000.0, 600.0
TONES = (CUSTOMER_HZ, MUSIC_HZ, AGENT_HZ, SUPERVISOR_HZ)
QUEUE = "sip:cards@bank.example"


def tones_in(path: Path) -> set[float]:
    """Which of ``TONES`` a recording holds: amplitude over 3 % of full scale at that frequency."""
    with wave.open(str(path), "rb") as wav:
        rate = wav.getframerate()
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(float) / 32768.0
    assert len(samples) >= rate // 2, f"{path.name}: {len(samples)} samples"
    spectrum = 2 * np.abs(np.fft.rfft(samples)) / len(samples)
    freqs = np.fft.rfftfreq(len(samples), 1 / rate)
    return {hz for hz in TONES if spectrum[np.abs(freqs - hz) <= 3].max() > 0.03}


async def _conversation(h: EngineHarness, log: EventLog) -> tuple[CallId, CallId]:
    h.call_in(FarEnd(voice_hz=CUSTOMER_HZ), from_uri="sip:+4930111222@pstn.example", to_uri=QUEUE)
    customer = (await log.wait_for(CallOffered)).call_id
    await h.engine.answer(customer)
    agent_uri = h.callee("agent", FarEnd(answer_after=0.5, voice_hz=AGENT_HZ))
    agent = await h.engine.originate(agent_uri, QUEUE, ring_timeout=10.0)
    await log.wait_for(CallAnswered, agent)
    await h.engine.bridge(customer, agent)
    return customer, agent


async def _record(h: EngineHarness, log: EventLog, legs: tuple[CallId, ...], seconds: float) -> list[set[float]]:
    """Record every leg for ``seconds`` at once; the tones each recording holds, in ``legs`` order."""
    await h.pause(0.5)  # far ends' streams are flowing and the bridge has settled
    recordings = [await h.engine.start_recording(leg) for leg in legs]
    await h.pause(seconds)
    for recording in recordings:
        await h.engine.stop_recording(recording)
    found = []
    for recording, leg in zip(recordings, legs, strict=True):
        while not (ready := [r for r in log.of(RecordingReady, leg) if r.recording_id == recording]):
            await log.wait_for(RecordingReady, leg, nth=len(log.of(RecordingReady, leg)) + 1)
        found.append(tones_in(ready[0].path))
    return found


@pytest.mark.engine_features("hold")
def test_bridged_legs_hear_each_other_and_hold_cuts_the_agent_off(harness: EngineHarness) -> None:
    async def scenario(h: EngineHarness, log: EventLog) -> None:
        customer, agent = await _conversation(h, log)
        # Both recordings of a bridged conversation hold both sides.
        assert await _record(h, log, (customer, agent), 2.0) == [{CUSTOMER_HZ, AGENT_HZ}] * 2
        # On hold the customer hears the music, not the agent, and the agent no longer hears the customer.
        await h.engine.hold(customer, music=h.music)
        on_hold = await _record(h, log, (customer, agent), 2.0)
        assert on_hold == [{CUSTOMER_HZ, MUSIC_HZ}, {AGENT_HZ}]
        await h.engine.unhold(customer)
        assert await _record(h, log, (customer, agent), 2.0) == [{CUSTOMER_HZ, AGENT_HZ}] * 2
        await h.engine.hangup(customer)
        await h.engine.hangup(agent)

    play_out(harness, scenario)


@pytest.mark.engine_features("monitor")
@pytest.mark.parametrize(
    ("mode", "customer_hears_supervisor", "agent_hears_supervisor"),
    [
        pytest.param(MonitorMode.LISTEN, False, False, id="listen"),
        pytest.param(MonitorMode.WHISPER, False, True, id="whisper"),
        pytest.param(MonitorMode.BARGE, True, True, id="barge"),
    ],
)
def test_supervisor_audio_directions(
    harness: EngineHarness, mode: MonitorMode, customer_hears_supervisor: bool, agent_hears_supervisor: bool
) -> None:
    async def scenario(h: EngineHarness, log: EventLog) -> None:
        customer, agent = await _conversation(h, log)
        sup_uri = h.callee("supervisor", FarEnd(answer_after=0.5, voice_hz=SUPERVISOR_HZ))
        supervisor = await h.engine.originate(sup_uri, QUEUE, ring_timeout=10.0)
        await log.wait_for(CallAnswered, supervisor)
        start = {
            MonitorMode.LISTEN: h.engine.listen,
            MonitorMode.WHISPER: h.engine.whisper,
            MonitorMode.BARGE: h.engine.barge,
        }[mode]
        await start(supervisor, agent)
        heard = await _record(h, log, (customer, agent, supervisor), 2.0)
        sup = {SUPERVISOR_HZ}
        assert heard[0] == {CUSTOMER_HZ, AGENT_HZ} | (sup if customer_hears_supervisor else set())
        assert heard[1] == {CUSTOMER_HZ, AGENT_HZ} | (sup if agent_hears_supervisor else set())
        assert heard[2] == {CUSTOMER_HZ, AGENT_HZ, SUPERVISOR_HZ}  # the supervisor hears both sides
        # The supervisor hangs up: the conversation goes on as before.
        await h.engine.hangup(supervisor)
        assert await _record(h, log, (customer, agent), 1.5) == [{CUSTOMER_HZ, AGENT_HZ}] * 2
        await h.engine.hangup(customer)
        await h.engine.hangup(agent)

    play_out(harness, scenario)
