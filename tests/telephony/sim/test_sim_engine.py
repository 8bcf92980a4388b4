"""Sim-only behaviour: determinism, virtual time, callee statistics, recording content, scale."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import numpy as np
import pytest

from callvault.telephony import CallAnswered, CallEvent, CallHangup, CallOffered, HangupCause, RecordingReady
from callvault.telephony.sim import Directory, FarEnd, SimEngine, SimulationStalled
from tests.telephony.eventlog import EventLog

CLI = "sip:+4930999000@bank.example"


def _engine(tmp_path: Path, seed: int = 1) -> SimEngine:
    return SimEngine(directory=Directory(), recordings_dir=tmp_path, seed=seed)


def _campaign(tmp_path: Path, seed: int, calls: int) -> list[CallEvent]:
    """A small dialer run: ``calls`` originates to callees answering with p=0.4 after 3 s."""

    async def main() -> list[CallEvent]:
        engine = _engine(tmp_path, seed)
        target = engine.directory.add("sip:list@sim", FarEnd(answer_after=3.0, answer_probability=0.4, hangup_after=20))
        log = EventLog(engine)

        async def dial() -> None:
            for _ in range(calls):
                await engine.originate(target, CLI, ring_timeout=15.0)
                await engine.sleep(0.5)
            await log.wait_for(CallHangup, nth=calls)

        await engine.run(dial())
        await engine.close()
        await log.close()
        return log.events

    return asyncio.run(main())


def test_same_seed_same_events_and_times(tmp_path: Path) -> None:
    first = _campaign(tmp_path, seed=42, calls=40)
    second = _campaign(tmp_path, seed=42, calls=40)
    other = _campaign(tmp_path, seed=43, calls=40)
    assert first == second
    assert first != other


def test_answer_probability_is_respected(tmp_path: Path) -> None:
    events = _campaign(tmp_path, seed=5, calls=1000)
    answered = sum(isinstance(e, CallAnswered) for e in events)
    no_answer = [e for e in events if isinstance(e, CallHangup) and e.cause is HangupCause.NO_ANSWER]
    assert 340 <= answered <= 460  # p = 0.4, about 3 sigma either side
    assert answered + len(no_answer) == 1000


def test_virtual_time_moves_only_when_driven(tmp_path: Path) -> None:
    async def main() -> None:
        engine = _engine(tmp_path)
        engine.offer_inbound(FarEnd(gives_up_after=10.0), from_uri=CLI, to_uri="sip:q@bank")
        await engine.advance(9.5)
        assert engine.clock.now == 9.5
        log = EventLog(engine)
        await engine.advance(1.0)
        await asyncio.sleep(0)
        hangup = log.of(CallHangup)[0]
        assert (hangup.at, hangup.cause) == (10.0, HangupCause.CANCELLED)
        await engine.close()

    asyncio.run(main())


def test_run_reports_a_scenario_that_can_never_finish(tmp_path: Path) -> None:
    async def main() -> None:
        engine = _engine(tmp_path)
        log = EventLog(engine)
        with pytest.raises(SimulationStalled):
            await engine.run(log.wait_for(CallOffered))  # nobody will ever call
        await engine.close()

    asyncio.run(main())


def _dominant_hz(path: Path) -> float:
    with wave.open(str(path), "rb") as wav:
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(float)
        rate = wav.getframerate()
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))])


def test_bridged_recording_contains_both_voices_then_music_on_hold(tmp_path: Path) -> None:
    music = tmp_path / "moh.wav"
    tone = (0.5 * 32767 * np.sin(2 * np.pi * 600 * np.arange(4000) / 8000)).astype("<i2")
    with wave.open(str(music), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(tone.tobytes())

    async def main() -> tuple[RecordingReady, RecordingReady]:
        from callvault.telephony import AudioFile

        engine = _engine(tmp_path)
        agent_uri = engine.directory.add("sip:agent@sim", FarEnd(answer_after=0.0, voice_hz=800.0))
        log = EventLog(engine)
        caller = engine.offer_inbound(FarEnd(voice_hz=300.0), from_uri=CLI, to_uri="sip:q@bank")

        async def scenario() -> tuple[RecordingReady, RecordingReady]:
            await engine.answer(caller)
            agent = await engine.originate(agent_uri, CLI, ring_timeout=5.0)
            await log.wait_for(CallAnswered, agent)
            await engine.bridge(caller, agent)
            talk = await engine.start_recording(caller)
            await engine.sleep(2.0)
            await engine.stop_recording(talk)
            moh = await engine.start_recording(caller)
            await engine.hold(caller, music=AudioFile(music))
            await engine.sleep(2.0)
            await engine.stop_recording(moh)
            await log.wait_for(RecordingReady, caller, nth=2)
            first, second = log.of(RecordingReady, caller)
            return first, second

        result = await engine.run(scenario())
        await engine.close()
        return result

    talk, held = asyncio.run(main())
    assert talk.duration == pytest.approx(2.0)
    with wave.open(str(talk.path), "rb") as wav:
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(float)
    spectrum = np.abs(np.fft.rfft(samples))
    freqs = np.fft.rfftfreq(len(samples), 1 / 8000)
    strongest = sorted(freqs[np.argsort(spectrum)[-2:]])
    assert strongest == pytest.approx([300.0, 800.0], abs=2)
    # On hold the caller hears the music, and the agent's voice is gone from the caller's recording.
    assert _dominant_hz(held.path) == pytest.approx(600.0, abs=2)


def test_thousands_of_calls_in_one_run(tmp_path: Path) -> None:
    events = _campaign(tmp_path, seed=9, calls=3000)
    assert sum(isinstance(e, CallHangup) for e in events) == 3000
