"""The sim engine: the ``Engine`` port over scripted far ends and a virtual clock.

Nothing here sleeps on the wall clock. Time moves only when the simulation is driven with ``run`` (advance to
the next timer whenever every task is waiting), ``advance`` or ``run_until_idle``. Given the same seed, far
ends and sequence of calls, every run publishes the same events at the same virtual times.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from callvault.telephony.events import (
    BridgeId,
    CallEvent,
    CallHeld,
    CallId,
    CallOffered,
    CallOriginated,
    CallTransferred,
    Direction,
    HangupCause,
    MonitorMode,
    RecordingId,
)
from callvault.telephony.port import (
    CollectionEnd,
    DigitCollection,
    Engine,
    InvalidCallState,
    PlaybackOutcome,
    Prompt,
    UnknownCall,
    take_buffered_digits,
)
from callvault.telephony.sim.audio import PromptAudio, RecordingTape, duration_of, prompt_samples
from callvault.telephony.sim.driver import VirtualTimeDriver
from callvault.telephony.sim.far_end import FarEnd
from callvault.telephony.sim.legs import Playback, music_audio
from callvault.telephony.sim.switch import SimSwitch, resolve_waiter

_REJECT_CAUSES = {
    486: HangupCause.BUSY,
    600: HangupCause.BUSY,
    603: HangupCause.REJECTED,
    403: HangupCause.REJECTED,
}


class SimEngine(SimSwitch, VirtualTimeDriver):
    """In-process telephony engine with deterministic, scripted far ends.

    ``SimEngine(directory=..., recordings_dir=..., seed=...)``: ``directory`` says which ``FarEnd`` answers
    each dialled URI, recordings are written as WAV files to ``recordings_dir``, and ``seed`` fixes every
    random draw (whether a callee answers).
    """

    # -- simulated far ends calling in -----------------------------------------------------------------

    def offer_inbound(self, far_end: FarEnd, *, from_uri: str, to_uri: str) -> CallId:
        """A scripted caller calls the engine: publishes ``call.offered`` and returns the new leg's id."""
        leg = self._new_leg(Direction.INBOUND, from_uri, to_uri, far_end)
        self._publish(CallOffered(call_id=leg.call_id, at=self.clock.now, from_uri=from_uri, to_uri=to_uri))
        if far_end.gives_up_after is not None:
            self._later(leg, far_end.gives_up_after, lambda: self._end(leg, HangupCause.CANCELLED, 487))
        return leg.call_id

    # -- the Engine port -------------------------------------------------------------------------------

    def events(self) -> AsyncIterator[CallEvent]:
        """Subscribe to the engine's events (see ``callvault.telephony.events`` for ordering)."""
        return self._stream.subscribe()

    async def answer(self, call_id: CallId) -> None:
        """Answer an offered inbound leg."""
        leg = self._leg(call_id)
        if leg.direction is not Direction.INBOUND or leg.answered:
            raise InvalidCallState(f"{call_id} is not an offered inbound leg")
        self._connect(leg)

    async def play(self, call_id: CallId, prompt: Prompt, *, interrupt_on_dtmf: bool = False) -> PlaybackOutcome:
        """Play a prompt; returns when it completed, was interrupted by a digit, or the leg hung up."""
        leg = self._answered_leg(call_id)
        if leg.playback is not None:
            raise InvalidCallState(f"{call_id} is already playing a prompt")
        if interrupt_on_dtmf and leg.digits:
            return PlaybackOutcome.INTERRUPTED  # type-ahead skips the prompt, as callers expect
        samples = prompt_samples(prompt)
        done: asyncio.Future[PlaybackOutcome] = asyncio.get_running_loop().create_future()
        timer = self._later(leg, duration_of(samples), lambda: self._stop_playback(leg, PlaybackOutcome.COMPLETED))
        leg.playback = Playback(PromptAudio(samples, self.clock.now, loop=False), done, timer, interrupt_on_dtmf)
        self._media_changed()
        return await done

    async def collect_digits(
        self, call_id: CallId, *, max_digits: int, digit_timeout: float, terminator: str | None = "#"
    ) -> DigitCollection:
        """Collect digits, type-ahead first; see the port for the end conditions."""
        leg = self._answered_leg(call_id)
        if leg.digit_waiter is not None:
            raise InvalidCallState(f"{call_id} is already collecting digits")
        collected = ""
        while True:
            collected, done = take_buffered_digits(leg.digits, collected, max_digits=max_digits, terminator=terminator)
            if done is not None:
                return done
            if leg.ended:
                return DigitCollection(collected, CollectionEnd.HANGUP)
            waiter: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
            leg.digit_waiter = waiter
            timer = self._later(leg, digit_timeout, lambda w=waiter: resolve_waiter(w, False))  # type: ignore[misc]
            try:
                got_digit = await waiter
            finally:
                timer.cancel()
                leg.digit_waiter = None
            if not got_digit:
                end = CollectionEnd.HANGUP if leg.ended else CollectionEnd.TIMEOUT
                return DigitCollection(collected, end)

    async def originate(self, to_uri: str, from_uri: str, *, ring_timeout: float) -> CallId:
        """Call a scripted far end from the directory; the outcome arrives as events."""
        self._check_open()
        far_end = self.directory.lookup(to_uri)
        leg = self._new_leg(Direction.OUTBOUND, from_uri, to_uri, far_end or FarEnd())
        self._publish(CallOriginated(call_id=leg.call_id, at=self.clock.now, from_uri=from_uri, to_uri=to_uri))
        if far_end is None:
            self._later(leg, 0.0, lambda: self._end(leg, HangupCause.FAILED, 404))
            return leg.call_id
        self._later(leg, ring_timeout, lambda: self._end(leg, HangupCause.NO_ANSWER, 487))
        if far_end.reject_code is not None:
            cause = _REJECT_CAUSES.get(far_end.reject_code, HangupCause.FAILED)
            self._later(leg, far_end.answer_after, lambda: self._end(leg, cause, far_end.reject_code))
        elif self._rng.random() < far_end.answer_probability:
            self._later(leg, far_end.answer_after, lambda: self._connect(leg))
        elif far_end.gives_up_after is not None:
            self._later(leg, far_end.gives_up_after, lambda: self._end(leg, HangupCause.NO_ANSWER, 480))
        return leg.call_id

    async def bridge(self, a: CallId, b: CallId) -> BridgeId:
        """Join two answered legs; a leg already in a bridge leaves that one first.

        A prompt still playing to either leg stops (``interrupted``) and a held leg is taken off hold."""
        leg_a, leg_b = self._answered_leg(a), self._answered_leg(b)
        if a == b:
            raise InvalidCallState("cannot bridge a leg to itself")
        for leg in (leg_a, leg_b):
            self._stop_playback(leg, PlaybackOutcome.INTERRUPTED)
            self._unhold(leg)
        return self._join(leg_a, leg_b)

    async def transfer(
        self,
        call_id: CallId,
        *,
        to_uri: str | None = None,
        consultation: CallId | None = None,
        ring_timeout: float = 30.0,
    ) -> CallId:
        """Blind or consultative transfer of ``call_id`` (see the port for the semantics)."""
        leg = self._answered_leg(call_id)
        if (to_uri is None) == (consultation is None):
            raise ValueError("give exactly one of to_uri and consultation")
        replaced = self._partner(leg)
        if consultation is not None:
            target = self._answered_leg(consultation)
            consulted_by = self._partner(target)
            gone = [g for g in (replaced, consulted_by) if g is not None and g is not leg and g is not target]
            for other in gone:
                self._end(other, HangupCause.TRANSFERRED, None)
            self._unhold(leg)
            self._join(leg, target)
            replaced_id = gone[0].call_id if gone else None
            self._publish(
                CallTransferred(
                    call_id=leg.call_id,
                    at=self.clock.now,
                    target_call_id=target.call_id,
                    replaced_call_id=replaced_id,
                )
            )
            return target.call_id
        assert to_uri is not None
        if replaced is not None:
            self._end(replaced, HangupCause.TRANSFERRED, None)
        from_uri = leg.from_uri if leg.direction is Direction.INBOUND else leg.to_uri
        new_id = await self.originate(to_uri, from_uri, ring_timeout=ring_timeout)
        self._legs[new_id].transfer_for = leg.call_id
        self._legs[new_id].replaced_by_transfer = replaced.call_id if replaced is not None else None
        return new_id

    async def hold(self, call_id: CallId, *, music: Prompt | None = None) -> None:
        """Put a leg on hold with optional looping music."""
        leg = self._answered_leg(call_id)
        if leg.held:
            return
        leg.held = True
        leg.music = music_audio(music, self.clock.now)
        self._publish(CallHeld(call_id=call_id, at=self.clock.now))
        self._media_changed()

    async def unhold(self, call_id: CallId) -> None:
        """Take a leg off hold."""
        self._unhold(self._answered_leg(call_id))

    async def start_recording(self, call_id: CallId) -> RecordingId:
        """Record the leg's mixed audio to a WAV file under ``recordings_dir``."""
        leg = self._answered_leg(call_id)
        recording_id = RecordingId(self._next_id("rec"))
        tape = RecordingTape(self.recordings_dir / f"{recording_id}.wav", self.clock.now)
        leg.recordings[recording_id] = tape
        self._recording_owner[recording_id] = call_id
        self._media_changed()
        return recording_id

    async def stop_recording(self, recording_id: RecordingId) -> None:
        """Finish the WAV file and publish ``recording.ready``."""
        owner = self._recording_owner.get(recording_id)
        if owner is None:
            raise UnknownCall(f"unknown recording {recording_id}")
        leg = self._legs[owner]
        if recording_id in leg.recordings:
            self._finish_recording(leg, recording_id)

    async def listen(self, supervisor: CallId, agent: CallId) -> None:
        """Supervisor hears the agent's conversation."""
        self._monitor(supervisor, agent, MonitorMode.LISTEN)

    async def whisper(self, supervisor: CallId, agent: CallId) -> None:
        """Supervisor hears the conversation and speaks to the agent only."""
        self._monitor(supervisor, agent, MonitorMode.WHISPER)

    async def barge(self, supervisor: CallId, agent: CallId) -> None:
        """Supervisor joins as a third party."""
        self._monitor(supervisor, agent, MonitorMode.BARGE)

    async def hangup(self, call_id: CallId, cause: HangupCause = HangupCause.NORMAL) -> None:
        """End a leg; rejecting an offered leg or cancelling a ringing one. Idempotent."""
        leg = self._known_leg(call_id)
        if leg.ended:
            return
        if leg.answered:
            self._end(leg, cause, None)
        elif leg.direction is Direction.INBOUND:
            self._end(leg, cause if cause is not HangupCause.NORMAL else HangupCause.REJECTED, 603)
        else:
            self._end(leg, HangupCause.CANCELLED, 487)

    async def close(self) -> None:
        """Hang up every leg and end the event streams."""
        for leg in list(self._legs.values()):
            if not leg.ended:
                await self.hangup(leg.call_id)
        self._closed = True
        self._stream.close()


def _conforms_to_port(engine: SimEngine) -> Engine:
    # Lets mypy check that SimEngine implements every method of the port with the same signature.
    return engine
