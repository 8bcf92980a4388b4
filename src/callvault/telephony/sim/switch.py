"""Internal call switching of the sim engine: legs, bridges, far-end scripts, media and events.

``SimEngine`` exposes the port on top of this; everything here runs synchronously inside timer callbacks
or port calls, so each state change and its events happen at one virtual instant.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from pathlib import Path

from callvault.telephony.events import (
    BridgeId,
    CallAnswered,
    CallBridged,
    CallEvent,
    CallHangup,
    CallId,
    CallTransferred,
    CallUnbridged,
    CallUnheld,
    Direction,
    DtmfReceived,
    HangupCause,
    MonitorMode,
    MonitorStarted,
    RecordingId,
    RecordingReady,
)
from callvault.telephony.port import CallGone, EngineClosed, InvalidCallState, PlaybackOutcome, UnknownCall
from callvault.telephony.sim.clock import Timer, VirtualClock
from callvault.telephony.sim.far_end import DTMF_KEYS, Directory, FarEnd
from callvault.telephony.sim.legs import Leg, LegState, Monitor
from callvault.telephony.sim.media import audible_sources
from callvault.telephony.stream import EventStream


class SimSwitch:
    """State and state changes shared by the sim engine's port methods."""

    def __init__(self, *, directory: Directory, recordings_dir: Path, seed: int = 0) -> None:
        self.clock = VirtualClock()
        self.directory = directory
        self.recordings_dir = recordings_dir
        self._rng = random.Random(seed)  # noqa: S311 - simulation draws, not secrets
        self._stream = EventStream()
        self._legs: dict[CallId, Leg] = {}
        self._bridges: dict[BridgeId, tuple[CallId, CallId]] = {}
        self._recording_owner: dict[RecordingId, CallId] = {}
        self._counter = 0
        self._closed = False

    def _new_leg(self, direction: Direction, from_uri: str, to_uri: str, far_end: FarEnd) -> Leg:
        self._check_open()
        leg = Leg(CallId(self._next_id("sim")), direction, from_uri, to_uri, far_end)
        self._legs[leg.call_id] = leg
        return leg

    def _connect(self, leg: Leg) -> None:
        """The leg is answered: run the far end's script from here."""
        leg.cancel_timers()
        leg.state = LegState.ANSWERED
        self._publish(CallAnswered(call_id=leg.call_id, at=self.clock.now, direction=leg.direction))
        for offset, key in leg.far_end.digits:
            self._later(leg, offset, lambda k=key: self._press(leg, k))  # type: ignore[misc]
        if leg.far_end.hangup_after is not None:
            self._later(leg, leg.far_end.hangup_after, lambda: self._end(leg, HangupCause.NORMAL, None))
        if leg.transfer_for is not None:
            self._complete_blind_transfer(leg)
        self._media_changed()

    def _complete_blind_transfer(self, target: Leg) -> None:
        assert target.transfer_for is not None
        origin = self._legs[target.transfer_for]
        if not origin.answered:
            self._end(target, HangupCause.NORMAL, None)
            return
        self._unhold(origin)
        self._join(origin, target)
        self._publish(
            CallTransferred(
                call_id=origin.call_id,
                at=self.clock.now,
                target_call_id=target.call_id,
                replaced_call_id=target.replaced_by_transfer,
            )
        )

    def _press(self, leg: Leg, key: str) -> None:
        if key not in DTMF_KEYS:
            raise ValueError(f"not a DTMF key: {key!r}")
        leg.digits.append(key)
        self._publish(DtmfReceived(call_id=leg.call_id, at=self.clock.now, digit=key))
        if leg.digit_waiter is not None:
            resolve_waiter(leg.digit_waiter, True)
        if leg.playback is not None and leg.playback.interrupt_on_dtmf:
            self._stop_playback(leg, PlaybackOutcome.INTERRUPTED)

    def _stop_playback(self, leg: Leg, outcome: PlaybackOutcome) -> None:
        playback, leg.playback = leg.playback, None
        if playback is None:
            return
        playback.timer.cancel()
        if not playback.done.done():
            playback.done.set_result(outcome)
        self._media_changed()

    def _end(self, leg: Leg, cause: HangupCause, sip_code: int | None) -> None:
        """Hang the leg up; its hangup event comes first, then its recordings, then the partner's unbridge."""
        if leg.ended:
            return
        leg.cancel_timers()
        leg.state = LegState.ENDED
        self._publish(CallHangup(call_id=leg.call_id, at=self.clock.now, cause=cause, sip_code=sip_code))
        self._stop_playback(leg, PlaybackOutcome.HANGUP)
        if leg.digit_waiter is not None:
            resolve_waiter(leg.digit_waiter, False)
        for recording_id in list(leg.recordings):
            self._finish_recording(leg, recording_id)
        self._leave_bridge(leg)
        leg.monitor = None
        for other in self._legs.values():
            if other.monitor is not None and other.monitor.agent == leg.call_id:
                other.monitor = None
        self._media_changed()

    def _join(self, a: Leg, b: Leg) -> BridgeId:
        self._leave_bridge(a)
        self._leave_bridge(b)
        bridge_id = BridgeId(self._next_id("bridge"))
        self._bridges[bridge_id] = (a.call_id, b.call_id)
        a.bridge = b.bridge = bridge_id
        for leg, other in ((a, b), (b, a)):
            self._publish(
                CallBridged(call_id=leg.call_id, at=self.clock.now, bridge_id=bridge_id, other_call_id=other.call_id)
            )
        self._media_changed()
        return bridge_id

    def _leave_bridge(self, leg: Leg) -> None:
        if leg.bridge is None:
            return
        bridge_id, leg.bridge = leg.bridge, None
        for member in self._bridges.pop(bridge_id):
            other = self._legs[member]
            other.bridge = None
            self._publish(CallUnbridged(call_id=member, at=self.clock.now, bridge_id=bridge_id))

    def _partner(self, leg: Leg) -> Leg | None:
        if leg.bridge is None:
            return None
        a, b = self._bridges[leg.bridge]
        return self._legs[b if a == leg.call_id else a]

    def _unhold(self, leg: Leg) -> None:
        if not leg.held:
            return
        leg.held = False
        leg.music = None
        self._publish(CallUnheld(call_id=leg.call_id, at=self.clock.now))
        self._media_changed()

    def _monitor(self, supervisor: CallId, agent: CallId, mode: MonitorMode) -> None:
        sup, ag = self._answered_leg(supervisor), self._answered_leg(agent)
        if sup is ag:
            raise InvalidCallState("a leg cannot monitor itself")
        sup.monitor = Monitor(ag.call_id, mode)
        self._publish(MonitorStarted(call_id=supervisor, at=self.clock.now, agent_call_id=agent, mode=mode))
        self._media_changed()

    def _finish_recording(self, leg: Leg, recording_id: RecordingId) -> None:
        tape = leg.recordings.pop(recording_id)
        duration = tape.finish(self.clock.now)
        self._publish(
            RecordingReady(
                call_id=leg.call_id,
                at=self.clock.now,
                recording_id=recording_id,
                path=tape.path,
                duration=duration,
            )
        )

    def _media_changed(self) -> None:
        """Tell every running recording what its leg hears from now on."""
        for leg in self._legs.values():
            if leg.recordings:
                sources = audible_sources(leg, self._legs, self._partner)
                for tape in leg.recordings.values():
                    tape.hear(self.clock.now, sources)

    def _later(self, leg: Leg, delay: float, action: Callable[[], None]) -> Timer:
        if len(leg.timers) > 32:  # digit timeouts pile up on long IVR sessions
            leg.timers = [t for t in leg.timers if not t.cancelled]
        timer = self.clock.call_later(delay, action)
        leg.timers.append(timer)
        return timer

    def _publish(self, event: CallEvent) -> None:
        self._stream.publish(event)

    def _next_id(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}-{self._counter}"

    def _check_open(self) -> None:
        if self._closed:
            raise EngineClosed("engine closed")

    def _known_leg(self, call_id: CallId) -> Leg:
        leg = self._legs.get(call_id)
        if leg is None:
            raise UnknownCall(call_id)
        return leg

    def _leg(self, call_id: CallId) -> Leg:
        leg = self._known_leg(call_id)
        if leg.ended:
            raise CallGone(call_id)
        return leg

    def _answered_leg(self, call_id: CallId) -> Leg:
        leg = self._leg(call_id)
        if not leg.answered:
            raise InvalidCallState(f"{call_id} is not answered")
        return leg


def resolve_waiter(future: asyncio.Future[bool], value: bool) -> None:
    if not future.done():
        future.set_result(value)
