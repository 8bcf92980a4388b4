"""State the sim engine keeps for each call leg."""

from __future__ import annotations

import asyncio
import enum
from collections import deque
from dataclasses import dataclass, field

from callvault.telephony.events import BridgeId, CallId, Direction, MonitorMode, RecordingId
from callvault.telephony.port import PlaybackOutcome, Prompt
from callvault.telephony.sim.audio import PromptAudio, RecordingTape, prompt_samples
from callvault.telephony.sim.clock import Timer
from callvault.telephony.sim.far_end import FarEnd


class LegState(enum.Enum):
    """Life cycle of a leg: ringing, up, ended."""

    RINGING = "ringing"
    ANSWERED = "answered"
    ENDED = "ended"


@dataclass
class Playback:
    """A prompt being played to a leg."""

    audio: PromptAudio
    done: asyncio.Future[PlaybackOutcome]
    timer: Timer
    interrupt_on_dtmf: bool


@dataclass
class Monitor:
    """A supervisor leg attached to an agent leg."""

    agent: CallId
    mode: MonitorMode


@dataclass
class Leg:
    """One simulated call leg and everything attached to it."""

    call_id: CallId
    direction: Direction
    from_uri: str
    to_uri: str
    far_end: FarEnd
    state: LegState = LegState.RINGING
    bridge: BridgeId | None = None
    held: bool = False
    music: PromptAudio | None = None
    playback: Playback | None = None
    digits: deque[str] = field(default_factory=deque)
    digit_waiter: asyncio.Future[bool] | None = None
    recordings: dict[RecordingId, RecordingTape] = field(default_factory=dict)
    timers: list[Timer] = field(default_factory=list)
    monitor: Monitor | None = None
    # Set on a leg originated by a blind transfer: the leg to bridge it to once it answers.
    transfer_for: CallId | None = None
    replaced_by_transfer: CallId | None = None

    @property
    def answered(self) -> bool:
        """The leg is connected."""
        return self.state is LegState.ANSWERED

    @property
    def ended(self) -> bool:
        """The leg has hung up."""
        return self.state is LegState.ENDED

    def cancel_timers(self) -> None:
        """Drop every pending far-end action and timeout of this leg."""
        for timer in self.timers:
            timer.cancel()
        self.timers.clear()


def music_audio(prompt: Prompt | None, start: float) -> PromptAudio | None:
    """Looping audio for music on hold, if any music was given."""
    if prompt is None:
        return None
    return PromptAudio(prompt_samples(prompt), start, loop=True)
