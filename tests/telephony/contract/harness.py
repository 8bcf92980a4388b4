"""Engine-neutral harness for the contract scenarios.

Each engine under test provides an ``EngineHarness``: the engine itself, a way to let scripted far ends call
in or be called (``FarEnd``), and a bounded way to run a scenario. The sim harness drives virtual time; a sip
harness runs SIPp far ends on 127.0.0.1 and bounds scenarios by wall-clock time.
"""

from __future__ import annotations

import math
import wave
from collections.abc import Awaitable
from pathlib import Path
from typing import Protocol, TypeVar

from callvault.telephony import AudioFile, Engine
from callvault.telephony.sim import Directory, FarEnd, SimEngine

T = TypeVar("T")


class EngineHarness(Protocol):
    """What a contract scenario needs from an engine under test."""

    engine: Engine
    prompt: AudioFile
    music: AudioFile
    features: frozenset[str]

    def callee(self, name: str, far_end: FarEnd) -> str:
        """Make a scripted far end reachable and return the URI to dial."""
        ...

    def call_in(self, far_end: FarEnd, *, from_uri: str, to_uri: str) -> None:
        """Let a scripted caller call the engine (the scenario sees ``call.offered``)."""
        ...

    def unreachable_uri(self) -> str:
        """A URI no far end answers at (originate fails)."""
        ...

    async def start(self) -> None:
        """Bring the engine up (workers, far-end agents); called inside the test's event loop."""
        ...

    async def pause(self, seconds: float) -> None:
        """Let ``seconds`` of the engine's time pass inside a scenario (far ends keep talking)."""
        ...

    async def run(self, scenario: Awaitable[T]) -> T:
        """Run a scenario to completion, bounded in (virtual or real) time."""
        ...

    async def stop(self) -> None:
        """Close the engine and stop everything ``start`` started."""
        ...


def write_tone(path: Path, *, seconds: float, hz: float, rate: int = 8000) -> AudioFile:
    """A 16-bit mono sine WAV, as a prompt."""
    frames = bytearray()
    for i in range(round(seconds * rate)):
        value = round(0.3 * 32767 * math.sin(2 * math.pi * hz * i / rate))
        frames += value.to_bytes(2, "little", signed=True)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(bytes(frames))
    return AudioFile(path)


class SimHarness:
    """Contract harness over the sim engine."""

    features = frozenset({"inbound", "tts", "originate", "bridge", "hold", "recording", "monitor"})
    # Scenarios never need more than a few minutes of virtual time; beyond that they are stuck.
    VIRTUAL_LIMIT = 600.0

    def __init__(self, workdir: Path, *, seed: int = 7) -> None:
        self.directory = Directory()
        recordings = workdir / "recordings"
        recordings.mkdir()
        self.sim = SimEngine(directory=self.directory, recordings_dir=recordings, seed=seed)
        self.engine: Engine = self.sim
        self.prompt = write_tone(workdir / "prompt.wav", seconds=1.0, hz=440.0)
        self.music = write_tone(workdir / "music.wav", seconds=0.5, hz=600.0)

    def callee(self, name: str, far_end: FarEnd) -> str:
        """Register ``far_end`` in the sim directory."""
        return self.directory.add(f"sip:{name}@sim.callvault", far_end)

    def call_in(self, far_end: FarEnd, *, from_uri: str, to_uri: str) -> None:
        """Offer an inbound leg from a scripted caller."""
        self.sim.offer_inbound(far_end, from_uri=from_uri, to_uri=to_uri)

    def unreachable_uri(self) -> str:
        """Not in the directory."""
        return "sip:nobody@nowhere.invalid"

    async def start(self) -> None:
        """Nothing to start: the sim engine lives in the test's process."""

    async def pause(self, seconds: float) -> None:
        """Wait ``seconds`` of virtual time."""
        await self.sim.sleep(seconds)

    async def run(self, scenario: Awaitable[T]) -> T:
        """Drive virtual time until the scenario completes."""
        return await self.sim.run(scenario, limit=self.VIRTUAL_LIMIT)

    async def stop(self) -> None:
        """Close the engine."""
        await self.sim.close()
