"""Call events published by a telephony engine.

Every event is a frozen dataclass with a dotted ``name`` (the routing key used on the event bus and in the
audit log). Events carry the engine's clock reading ``at`` (seconds; virtual time on the sim engine, monotonic
time on the sip engine) and a per-engine sequence number ``seq`` that increases by one for every event the
engine publishes.

Ordering guarantees (both engines):

* Events of one engine are delivered to every subscriber in ``seq`` order, without gaps, starting with the
  first event published after the subscription was opened.
* For one call leg the order is: ``call.offered`` (inbound) or ``call.originated`` (outbound), then at most
  one ``call.answered``, then any of ``call.dtmf`` / ``call.bridged`` / ``call.unbridged`` / ``call.held`` /
  ``call.unheld`` / ``recording.ready``, and ``call.hangup`` last. Nothing is published for a leg after its
  ``call.hangup`` except the ``recording.ready`` of recordings that the hangup stopped, and the
  ``call.unbridged`` of its partner leg.
* ``recording.ready`` is published only once the file is complete (header finalised) and readable.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, NewType

CallId = NewType("CallId", str)
"""Identifier of one call leg (one SIP dialog between the engine and a far end)."""

BridgeId = NewType("BridgeId", str)
"""Identifier of a bridge joining two legs' audio."""

RecordingId = NewType("RecordingId", str)
"""Identifier of one recording of one leg."""


class HangupCause(enum.StrEnum):
    """Why a leg ended, in contact-center terms (Q.850 / SIP status in comments)."""

    NORMAL = "normal"  # BYE after answer (Q.850 16)
    BUSY = "busy"  # 486 / 600 (Q.850 17)
    NO_ANSWER = "no_answer"  # ring timeout, 480 / 408 / our CANCEL after timeout (Q.850 19)
    REJECTED = "rejected"  # 603 Decline, 403 (Q.850 21)
    FAILED = "failed"  # unroutable, 404, 5xx, network error
    CANCELLED = "cancelled"  # caller gave up before answer (CANCEL of an inbound leg, Q.850 487)
    TRANSFERRED = "transferred"  # leg left the engine through a transfer
    WORKER_CRASHED = "worker_crashed"  # the media worker carrying the leg died


class Direction(enum.StrEnum):
    """Which side started the leg."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"


class MonitorMode(enum.StrEnum):
    """How a supervisor joins an agent's conversation."""

    LISTEN = "listen"  # supervisor hears both, nobody hears the supervisor
    WHISPER = "whisper"  # supervisor hears both, only the agent hears the supervisor
    BARGE = "barge"  # three-way conversation


@dataclass(frozen=True, kw_only=True)
class CallEvent:
    """Common fields of every call event."""

    name: ClassVar[str] = "call"
    call_id: CallId
    at: float
    seq: int = 0


@dataclass(frozen=True, kw_only=True)
class CallOffered(CallEvent):
    """An inbound leg is ringing at the engine; answer or hang it up."""

    name: ClassVar[str] = "call.offered"
    from_uri: str
    to_uri: str
    # Set when the call came through the SIP front: the institution's slug and the DID's entry point
    # ("ivr:<flow>" or "queue:<name>").
    tenant: str | None = None
    entry: str | None = None


@dataclass(frozen=True, kw_only=True)
class CallOriginated(CallEvent):
    """An outbound leg was started (INVITE sent)."""

    name: ClassVar[str] = "call.originated"
    from_uri: str
    to_uri: str


@dataclass(frozen=True, kw_only=True)
class CallAnswered(CallEvent):
    """The leg is connected (200 OK sent for inbound, received for outbound)."""

    name: ClassVar[str] = "call.answered"
    direction: Direction


@dataclass(frozen=True, kw_only=True)
class DtmfReceived(CallEvent):
    """The far end pressed a key (RFC 4733 telephone-event)."""

    name: ClassVar[str] = "call.dtmf"
    digit: str


@dataclass(frozen=True, kw_only=True)
class CallBridged(CallEvent):
    """Two legs now hear each other; published once for each of the two legs."""

    name: ClassVar[str] = "call.bridged"
    bridge_id: BridgeId
    other_call_id: CallId


@dataclass(frozen=True, kw_only=True)
class CallUnbridged(CallEvent):
    """A bridge ended (one leg hung up or was transferred). ``call_id`` is the leg still up, if any."""

    name: ClassVar[str] = "call.unbridged"
    bridge_id: BridgeId


@dataclass(frozen=True, kw_only=True)
class CallHeld(CallEvent):
    """The leg is on hold and hears music on hold (if any)."""

    name: ClassVar[str] = "call.held"


@dataclass(frozen=True, kw_only=True)
class CallUnheld(CallEvent):
    """The leg is back from hold."""

    name: ClassVar[str] = "call.unheld"


@dataclass(frozen=True, kw_only=True)
class CallTransferred(CallEvent):
    """``call_id`` is now connected to ``target_call_id``; ``replaced_call_id`` left the engine."""

    name: ClassVar[str] = "call.transferred"
    target_call_id: CallId
    replaced_call_id: CallId | None


@dataclass(frozen=True, kw_only=True)
class MonitorStarted(CallEvent):
    """A supervisor leg (``call_id``) joined the agent leg ``agent_call_id``."""

    name: ClassVar[str] = "call.monitor.started"
    agent_call_id: CallId
    mode: MonitorMode


@dataclass(frozen=True, kw_only=True)
class CallHangup(CallEvent):
    """The leg ended. Always the last event of a leg (see module docs for the exceptions)."""

    name: ClassVar[str] = "call.hangup"
    cause: HangupCause
    sip_code: int | None = None


@dataclass(frozen=True, kw_only=True)
class RecordingReady(CallEvent):
    """A recording is complete: ``path`` is a finished WAV file."""

    name: ClassVar[str] = "recording.ready"
    recording_id: RecordingId
    path: Path
    duration: float


EVENT_TYPES: tuple[type[CallEvent], ...] = (
    CallOffered,
    CallOriginated,
    CallAnswered,
    DtmfReceived,
    CallBridged,
    CallUnbridged,
    CallHeld,
    CallUnheld,
    CallTransferred,
    MonitorStarted,
    CallHangup,
    RecordingReady,
)
"""Every concrete event type, for schema export and routing-key checks."""
