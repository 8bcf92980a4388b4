"""Core-side state of the legs a media worker carries."""

from __future__ import annotations

import asyncio
import wave
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from callvault.telephony.events import CallId, Direction, HangupCause
from callvault.telephony.port import PlaybackOutcome


@dataclass
class SipLeg:
    """Core-side state of one leg carried by a worker."""

    call_id: CallId
    direction: Direction
    answered: bool = False
    ended: bool = False
    local_cause: HangupCause | None = None
    digits: deque[str] = field(default_factory=deque)
    digit_waiter: asyncio.Future[bool] | None = None
    playback: asyncio.Future[PlaybackOutcome] | None = None
    interrupt_on_dtmf: bool = False
    connected: asyncio.Future[bool] | None = None
    held: bool = False


def wav_seconds(path: Path) -> float:
    """Length of a finished WAV file in seconds."""
    with wave.open(str(path), "rb") as wav:
        return wav.getnframes() / wav.getframerate()


def resolve(waiter: asyncio.Future[bool] | None, value: bool) -> None:
    """Wake a waiter once; later wake-ups (e.g. hangup after a digit) are ignored."""
    if waiter is not None and not waiter.done():
        waiter.set_result(value)
