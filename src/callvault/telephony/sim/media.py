"""Who hears what in the sim engine: the audible sources of a leg, for its recordings."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from callvault.telephony.events import CallId, MonitorMode
from callvault.telephony.sim.audio import Source, Voice
from callvault.telephony.sim.legs import Leg

_SPEAKS_TO_AGENT = (MonitorMode.WHISPER, MonitorMode.BARGE)


def _voice(leg: Leg | None) -> list[Source]:
    if leg is None or not leg.answered or leg.far_end.voice_hz is None:
        return []
    return [Voice(leg.far_end.voice_hz)]


def audible_sources(
    leg: Leg, legs: Mapping[CallId, Leg], partner_of: Callable[[Leg], Leg | None]
) -> tuple[Source, ...]:
    """What a recording of ``leg`` captures now: its far end talking plus everything sent to it.

    A held leg hears only its music; otherwise it hears its prompt, its bridge partner (unless the partner is
    on hold), the conversation it monitors, and supervisors whispering or barging in.
    """
    sources: list[Source] = _voice(leg)
    if leg.held:
        if leg.music is not None:
            sources.append(leg.music)
        return tuple(sources)
    if leg.playback is not None:
        sources.append(leg.playback.audio)
    partner = partner_of(leg)
    if partner is not None and not partner.held:
        sources += _voice(partner)
    if leg.monitor is not None:
        agent = legs[leg.monitor.agent]
        sources += _voice(agent) + _voice(partner_of(agent))
    for supervisor in legs.values():
        monitor = supervisor.monitor
        if monitor is None:
            continue
        if (monitor.agent == leg.call_id and monitor.mode in _SPEAKS_TO_AGENT) or (
            partner is not None and monitor.agent == partner.call_id and monitor.mode is MonitorMode.BARGE
        ):
            sources += _voice(supervisor)
    return tuple(sources)
