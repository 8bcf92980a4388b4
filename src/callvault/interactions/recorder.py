"""The subscriber that turns a telephony engine's events into call records.

Engine events name legs, not institutions. An inbound leg is attributed when it is offered (`attribute`: the DID
decides the institution and the entry point); a leg our own code starts (an agent's phone rung by the ACD, a
dialer call, a supervisor joining) is attributed by whoever started it, through `claim`, usually right after
`originate` returned. Events of a leg not attributed yet are held and replayed on its claim (bounded: a leg
nobody claims is dropped with a log line when the buffer is full).

What is written: legs (start, answer, hold, monitor, hangup) and recordings (encrypted, plaintext removed).
What is not: DTMF digits (a caller may be typing a PIN or a card number) and bridge changes.

Each event is applied in its own transaction through the action functions, in engine order, on a worker thread so
the event loop carrying calls never waits for the database. A failing event is logged (ids only) and skipped:
call handling never stops because a record could not be written.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final, Protocol

import structlog

from callvault.core import clock
from callvault.core.db import Database
from callvault.core.tenant_context import set_tenant
from callvault.interactions import recordings, service
from callvault.interactions.schemas import InteractionOpen, PartyKind
from callvault.interactions.service import LegEvent, LegEventKind
from callvault.telephony.events import (
    CallAnswered,
    CallEvent,
    CallHangup,
    CallHeld,
    CallId,
    CallOffered,
    CallOriginated,
    CallTransferred,
    CallUnheld,
    MonitorStarted,
    RecordingReady,
)
from callvault.tenancy.actors import SystemActors

log = structlog.get_logger(__name__)

MAX_UNCLAIMED_LEGS: Final = 10_000


@dataclass(frozen=True, slots=True)
class LegClaim:
    """Whose leg this is. It joins `interaction_id`, or the interaction of the leg `with_call` (what the ACD
    knows when it rings an agent for a caller); without either it opens a new interaction described by the rest,
    with the id `new_interaction_id` when the caller chose one (the trigger worker and the campaign runner do,
    so their request or attempt row points to the record; opening it again on a replay finds it)."""

    tenant_id: uuid.UUID
    party: PartyKind
    interaction_id: uuid.UUID | None = None
    with_call: str | None = None
    trunk: str = ""
    agent_id: uuid.UUID | None = None
    campaign_id: uuid.UUID | None = None
    queue_id: uuid.UUID | None = None
    flow_id: uuid.UUID | None = None
    entry_point: str = ""
    new_interaction_id: uuid.UUID | None = None
    source: str = ""  # "trigger" / "campaign": what placed an outbound call; `source_id` its request / attempt
    source_id: uuid.UUID | None = None
    purpose: str = ""


class LegClaims(Protocol):
    """What code that originates legs needs of the recorder."""

    def claim(self, call_id: CallId | str, claim: LegClaim) -> None: ...


def trunk_of(uri: str) -> str:
    """The trunk a dialled SIP URI goes out on: its host (``sip:+86...@carrier-a`` -> ``carrier-a``), which is
    what carrier costs are keyed on; empty when the URI names none."""
    host = uri.rpartition("@")[2] if "@" in uri else ""
    return host.split(";", 1)[0].split(":", 1)[0][:64]


Attribute = Callable[[CallOffered], LegClaim | None]
"""Attribution of an inbound leg (DID -> institution); None: not an institution's call, not recorded."""


@dataclass
class _Bound:
    claim: LegClaim
    interaction_id: uuid.UUID | None = None


@dataclass
class _EngineClock:
    """Engine seconds (virtual or monotonic) to UTC instants, anchored at the first event seen."""

    anchor: tuple[float, datetime] | None = None

    def __call__(self, at: float) -> datetime:
        if self.anchor is None:
            self.anchor = (at, clock.now())
        return self.anchor[1] + timedelta(seconds=at - self.anchor[0])


@dataclass
class CallRecorder:
    db: Database
    attribute: Attribute | None = None
    wall_clock: Callable[[float], datetime] = field(default_factory=_EngineClock)
    _legs: dict[str, _Bound] = field(default_factory=dict)
    _unclaimed: OrderedDict[str, list[CallEvent]] = field(default_factory=OrderedDict)
    applied: int = 0
    failed: int = 0
    _system_actors: SystemActors = field(init=False)
    # `claim` runs on the calls' event loop while `apply` runs on a worker thread: one at a time, or an event
    # held as unclaimed just as its leg is claimed would never be replayed.
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        self._system_actors = SystemActors(self.db, name="call-recorder")

    # --- attribution -----------------------------------------------------------------------------------------

    def claim(self, call_id: CallId | str, claim: LegClaim) -> None:
        """Attribute a leg; events already received for it are applied now (in order, synchronously)."""
        with self._lock:
            self._legs[str(call_id)] = _Bound(claim, claim.interaction_id)
            for event in self._unclaimed.pop(str(call_id), []):
                self.apply(event)

    def interaction_of(self, call_id: CallId | str) -> uuid.UUID | None:
        bound = self._legs.get(str(call_id))
        return bound.interaction_id if bound is not None else None

    # --- consuming ---------------------------------------------------------------------------------------------

    async def run(self, events: AsyncIterator[CallEvent]) -> None:
        """Apply every event of the stream until it ends (the engine closed)."""
        async for event in events:
            await asyncio.to_thread(self.apply, event)

    def apply(self, event: CallEvent) -> None:
        """Write what one event means for the records; never raises."""
        with self._lock:
            self._apply(event)

    def _apply(self, event: CallEvent) -> None:
        bound = self._legs.get(event.call_id)
        if bound is None and isinstance(event, CallOffered) and self.attribute is not None:
            claim = self.attribute(event)
            if claim is not None:
                bound = self._legs[event.call_id] = _Bound(claim, claim.interaction_id)
        if isinstance(event, CallTransferred):
            self._adopt_transfer_target(event)
        if bound is None:
            self._hold(event)
            return
        try:
            self._write(bound, event)
            self.applied += 1
        except Exception as exc:  # a record that cannot be written must not stop call handling
            self.failed += 1
            log.warning("call record not written", event=event.name, call_id=event.call_id, error=type(exc).__name__)

    def _adopt_transfer_target(self, event: CallTransferred) -> None:
        """A transfer's new leg (originated by the engine itself) joins the interaction of the leg it serves."""
        bound = self._legs.get(event.call_id)
        if bound is not None and str(event.target_call_id) not in self._legs:
            base = bound.claim
            claim = LegClaim(base.tenant_id, PartyKind.AGENT, with_call=event.call_id, trunk=base.trunk)
            self.claim(event.target_call_id, claim)

    def _hold(self, event: CallEvent) -> None:
        held = self._unclaimed.setdefault(event.call_id, [])
        held.append(event)
        self._unclaimed.move_to_end(event.call_id)
        while len(self._unclaimed) > MAX_UNCLAIMED_LEGS:
            dropped, _ = self._unclaimed.popitem(last=False)
            log.info("events of an unattributed leg dropped", call_id=dropped)

    # --- writing -----------------------------------------------------------------------------------------------

    def _write(self, bound: _Bound, event: CallEvent) -> None:
        claim = bound.claim
        actor = self._system_actors.of(claim.tenant_id)
        at = self.wall_clock(event.at)
        with self.db.scoped() as session:
            set_tenant(session, claim.tenant_id)
            if isinstance(event, CallOffered | CallOriginated):
                inbound = isinstance(event, CallOffered)
                direction = "inbound" if inbound else "outbound"
                if bound.interaction_id is None and claim.with_call is not None:
                    bound.interaction_id = self.interaction_of(claim.with_call)
                if bound.interaction_id is None:
                    bound.interaction_id = service.open_interaction(
                        session,
                        actor=actor,
                        data=InteractionOpen(
                            direction=direction,
                            campaign_id=claim.campaign_id,
                            queue_id=claim.queue_id,
                            flow_id=claim.flow_id,
                            entry_point=claim.entry_point,
                            source=claim.source,
                            source_id=claim.source_id,
                            purpose=claim.purpose,
                            offered_at=at,
                        ),
                        interaction_id=claim.new_interaction_id,
                    )
                start = LegEvent(
                    LegEventKind.STARTED,
                    event.call_id,
                    at,
                    party=claim.party,
                    direction=direction,
                    remote=event.from_uri if inbound else event.to_uri,
                    local=event.to_uri if inbound else event.from_uri,
                    trunk=claim.trunk,
                    agent_id=claim.agent_id,
                )
                service.record_leg_event(session, actor=actor, interaction_id=bound.interaction_id, event=start)
                return
            if bound.interaction_id is None:
                return  # events of a leg whose start was never seen: nothing to attach them to
            interaction_id = bound.interaction_id
            kind = _LEG_EVENTS.get(type(event))
            if kind is not None:
                mode = event.mode.value if isinstance(event, MonitorStarted) else ""
                leg_event = LegEvent(kind, event.call_id, at, monitor_mode=mode)
                service.record_leg_event(session, actor=actor, interaction_id=interaction_id, event=leg_event)
            elif isinstance(event, CallHangup):
                service.close_leg(
                    session,
                    actor=actor,
                    interaction_id=interaction_id,
                    call_id=event.call_id,
                    at=at,
                    cause=event.cause.value,
                    sip_code=event.sip_code,
                )
            elif isinstance(event, RecordingReady):
                recordings.store_recording(
                    session,
                    actor=actor,
                    interaction_id=interaction_id,
                    source=event.path,
                    engine_recording_id=str(event.recording_id),
                    call_id=event.call_id,
                    duration_ms=round(event.duration * 1000),
                )


_LEG_EVENTS: Final[dict[type[CallEvent], LegEventKind]] = {
    CallAnswered: LegEventKind.ANSWERED,
    CallHeld: LegEventKind.HELD,
    CallUnheld: LegEventKind.UNHELD,
    MonitorStarted: LegEventKind.MONITOR,
}
