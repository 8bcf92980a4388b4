"""Recording start/stop produces a finished WAV announced by ``recording.ready``."""

from __future__ import annotations

import wave

import pytest

from callvault.telephony import CallHangup, CallId, CallOffered, RecordingReady
from callvault.telephony.sim import FarEnd
from tests.telephony.contract.conftest import play_out
from tests.telephony.contract.harness import EngineHarness
from tests.telephony.eventlog import EventLog

pytestmark = pytest.mark.engine_features("recording")


async def _answered_caller(h: EngineHarness, log: EventLog, far_end: FarEnd) -> CallId:
    h.call_in(far_end, from_uri="sip:+4930111222@pstn.example", to_uri="sip:fraud@bank.example")
    call = (await log.wait_for(CallOffered)).call_id
    await h.engine.answer(call)
    return call


def _wav_frames(ready: RecordingReady) -> int:
    with wave.open(str(ready.path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (1, 2)
        return wav.getnframes()


def test_record_start_stop_gives_ready_wav(harness: EngineHarness) -> None:
    async def scenario(h: EngineHarness, log: EventLog) -> None:
        call = await _answered_caller(h, log, FarEnd(hangup_after=60.0))
        recording = await h.engine.start_recording(call)
        await h.engine.play(call, h.prompt)
        await h.engine.stop_recording(recording)
        ready = await log.wait_for(RecordingReady, call)
        assert ready.recording_id == recording
        assert ready.path.exists()
        assert _wav_frames(ready) > 0
        assert ready.duration > 0
        await h.engine.hangup(call)

    play_out(harness, scenario)


def test_hangup_stops_recording_and_ready_follows_hangup(harness: EngineHarness) -> None:
    async def scenario(h: EngineHarness, log: EventLog) -> None:
        call = await _answered_caller(h, log, FarEnd(hangup_after=1.5))
        recording = await h.engine.start_recording(call)
        ready = await log.wait_for(RecordingReady, call)
        hangup = await log.wait_for(CallHangup, call)
        assert ready.recording_id == recording
        assert hangup.seq < ready.seq
        assert _wav_frames(ready) > 0

    play_out(harness, scenario)
