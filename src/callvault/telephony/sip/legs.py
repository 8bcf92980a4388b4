"""Core-side state of the legs a media worker carries."""

from __future__ import annotations

import asyncio
import wave
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from callvault.telephony.events import BridgeId, CallId, Direction, HangupCause, MonitorMode
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
    from_uri: str = ""
    to_uri: str = ""
    tenant: str | None = None
    bridge: BridgeId | None = None
    partner: CallId | None = None
    monitor: tuple[CallId, MonitorMode] | None = None  # (agent leg, mode) while this leg supervises
    # Set on a leg originated by a blind transfer: the leg to bridge it to once it answers.
    transfer_for: CallId | None = None
    replaced_by_transfer: CallId | None = None
    hears_sent: frozenset[CallId] = frozenset()  # what the worker was last told this leg hears


_SPEAKS_TO_AGENT = (MonitorMode.WHISPER, MonitorMode.BARGE)


def heard_legs(leg: SipLeg, legs: Mapping[CallId, SipLeg]) -> frozenset[CallId]:
    """The other legs whose audio ``leg`` hears now (the sim engine's rules, see ``sim.media``).

    A held leg hears only its music; otherwise it hears its bridge partner (unless the partner is on hold),
    both sides of the conversation it monitors, and supervisors whispering to it or barging in."""

    def live(call_id: CallId | None) -> bool:
        other = legs.get(call_id) if call_id is not None else None
        return other is not None and other.answered and not other.ended

    if leg.ended or leg.held:
        return frozenset()
    heard: set[CallId] = set()
    partner = legs[leg.partner] if leg.partner is not None and live(leg.partner) else None
    if partner is not None and not partner.held:
        heard.add(partner.call_id)
    if leg.monitor is not None and live(leg.monitor[0]):
        agent = legs[leg.monitor[0]]
        heard.add(agent.call_id)
        if agent.partner is not None and live(agent.partner):
            heard.add(agent.partner)
    for supervisor in legs.values():
        if supervisor.monitor is None or supervisor.ended or supervisor.held:
            continue
        agent_id, mode = supervisor.monitor
        if (agent_id == leg.call_id and mode in _SPEAKS_TO_AGENT) or (
            partner is not None and agent_id == partner.call_id and mode is MonitorMode.BARGE
        ):
            heard.add(supervisor.call_id)
    heard.discard(leg.call_id)
    return frozenset(heard)


def wav_seconds(path: Path) -> float:
    """Length of a finished WAV file in seconds."""
    with wave.open(str(path), "rb") as wav:
        return wav.getnframes() / wav.getframerate()


def resolve(waiter: asyncio.Future[bool] | None, value: bool) -> None:
    """Wake a waiter once; later wake-ups (e.g. hangup after a digit) are ignored."""
    if waiter is not None and not waiter.done():
        waiter.set_result(value)
