"""The telephony port: what ACD, IVR and dialer may ask of a telephony engine.

Two engines implement it: the in-process ``sim`` engine (virtual clock, deterministic) and the ``sip`` engine
(real SIP/RTP in supervised media workers). Both follow the same contract, checked by
``tests/telephony/contract``.

Conventions:

* Every method is a coroutine. Methods that start something long (``originate``) return as soon as it is
  started; its outcome arrives as events. Methods whose result the caller needs (``play``,
  ``collect_digits``) return when that result is known.
* A method called for a leg that has hung up raises ``CallGone``; for an unknown id ``UnknownCall``; for a
  leg in the wrong state (e.g. ``play`` before ``answer``) ``InvalidCallState``.
* Times are seconds on the engine's clock (see ``events``).
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from callvault.telephony.events import BridgeId, CallEvent, CallId, HangupCause, RecordingId


class TelephonyError(Exception):
    """Base class of errors raised through the port."""


class UnknownCall(TelephonyError):
    """No leg with this id was ever known to the engine."""


class CallGone(TelephonyError):
    """The leg has hung up."""


class InvalidCallState(TelephonyError):
    """The operation is not allowed in the leg's current state."""


class EngineClosed(TelephonyError):
    """The engine was closed."""


@dataclass(frozen=True)
class AudioFile:
    """A prompt stored as a WAV file (8 kHz or 16 kHz, 16-bit mono)."""

    path: Path


@dataclass(frozen=True)
class SpeechText:
    """A prompt to be spoken by text-to-speech."""

    text: str
    language: str = "en"


Prompt = AudioFile | SpeechText
"""Something an engine can play to a leg."""


class PlaybackOutcome(enum.StrEnum):
    """How a ``play`` ended."""

    COMPLETED = "completed"
    INTERRUPTED = "interrupted"  # a digit arrived and ``interrupt_on_dtmf`` was set, or the leg was bridged
    HANGUP = "hangup"  # the leg hung up during playback


class CollectionEnd(enum.StrEnum):
    """Why ``collect_digits`` returned."""

    MAX_DIGITS = "max_digits"
    TERMINATOR = "terminator"
    TIMEOUT = "timeout"
    HANGUP = "hangup"


@dataclass(frozen=True)
class DigitCollection:
    """Result of ``collect_digits``; ``digits`` excludes the terminator."""

    digits: str
    ended_by: CollectionEnd


@runtime_checkable
class Engine(Protocol):
    """A telephony engine carrying call legs for the contact center."""

    def events(self) -> AsyncIterator[CallEvent]:
        """Subscribe to all events published from now on, in ``seq`` order; ends when the engine closes."""
        ...

    async def answer(self, call_id: CallId) -> None:
        """Answer an offered inbound leg; returns once it is connected (``call.answered`` published)."""
        ...

    async def play(self, call_id: CallId, prompt: Prompt, *, interrupt_on_dtmf: bool = False) -> PlaybackOutcome:
        """Play a prompt to an answered leg and return when it has finished.

        With ``interrupt_on_dtmf`` a digit stops the prompt; the digit stays buffered for ``collect_digits``.
        """
        ...

    async def collect_digits(
        self, call_id: CallId, *, max_digits: int, digit_timeout: float, terminator: str | None = "#"
    ) -> DigitCollection:
        """Collect DTMF digits from an answered leg.

        Digits received since the last collection (type-ahead) count first. ``digit_timeout`` is the
        inter-digit timeout: the wait for the first digit and between digits. Returns on ``max_digits``
        digits, on the terminator (not included), on ``digit_timeout`` (with what was collected) or on hangup.
        """
        ...

    async def originate(self, to_uri: str, from_uri: str, *, ring_timeout: float) -> CallId:
        """Start an outbound leg and return its id once started (``call.originated``).

        The outcome arrives as ``call.answered`` or ``call.hangup`` (busy, no_answer after
        ``ring_timeout`` seconds of ringing, rejected, failed).
        """
        ...

    async def bridge(self, a: CallId, b: CallId) -> BridgeId:
        """Join two answered legs so they hear each other; ``call.bridged`` follows for both legs.

        A leg is in at most one bridge. When either leg hangs up the bridge ends and the other leg stays up
        (``call.unbridged``). A prompt still playing to either leg is stopped (its ``play`` returns
        ``interrupted``) and a held leg is taken off hold (``call.unheld``) first.
        """
        ...

    async def transfer(
        self,
        call_id: CallId,
        *,
        to_uri: str | None = None,
        consultation: CallId | None = None,
        ring_timeout: float = 30.0,
    ) -> CallId:
        """Transfer ``call_id`` away from its current bridge partner; returns the leg it ends up bridged to.

        Blind (``to_uri``): the partner leg is hung up with cause ``transferred`` and a new leg to ``to_uri``
        is originated; when it answers, it is bridged to ``call_id``. Its failure is reported as its
        ``call.hangup``; ``call_id`` stays up for the caller to handle.

        Consultative (``consultation``, an answered leg, e.g. agent 2 consulted by agent 1): ``call_id`` is
        bridged to ``consultation``, and the partner leg of ``call_id`` and any leg bridged to
        ``consultation`` are hung up with cause ``transferred``.
        """
        ...

    async def hold(self, call_id: CallId, *, music: Prompt | None = None) -> None:
        """Put an answered leg on hold: it leaves its bridge's audio and hears ``music`` in a loop."""
        ...

    async def unhold(self, call_id: CallId) -> None:
        """Take a leg off hold: music stops and its bridge's audio (if any) resumes."""
        ...

    async def start_recording(self, call_id: CallId) -> RecordingId:
        """Start recording what the leg says and hears, mixed to one mono WAV."""
        ...

    async def stop_recording(self, recording_id: RecordingId) -> None:
        """Stop a recording; ``recording.ready`` follows once the file is complete. Hangup also stops it."""
        ...

    async def listen(self, supervisor: CallId, agent: CallId) -> None:
        """Let the supervisor leg hear the agent leg's conversation silently."""
        ...

    async def whisper(self, supervisor: CallId, agent: CallId) -> None:
        """Let the supervisor hear the conversation and speak to the agent only."""
        ...

    async def barge(self, supervisor: CallId, agent: CallId) -> None:
        """Join the supervisor into the agent's conversation as a third party."""
        ...

    async def hangup(self, call_id: CallId, cause: HangupCause = HangupCause.NORMAL) -> None:
        """End a leg (reject or cancel it if not answered); ``call.hangup`` follows. Idempotent."""
        ...

    async def close(self) -> None:
        """Hang up every leg, finish recordings, and end every event stream."""
        ...


def take_buffered_digits(
    buffer: deque[str], collected: str, *, max_digits: int, terminator: str | None
) -> tuple[str, DigitCollection | None]:
    """Consume digits already received (type-ahead first); the result once the terminator or max is reached.

    Shared by every engine so the end rules of `collect_digits` are the same on each.
    """
    while buffer:
        digit = buffer.popleft()
        if terminator is not None and digit == terminator:
            return collected, DigitCollection(collected, CollectionEnd.TERMINATOR)
        collected += digit
        if len(collected) >= max_digits:
            return collected, DigitCollection(collected, CollectionEnd.MAX_DIGITS)
    return collected, None
