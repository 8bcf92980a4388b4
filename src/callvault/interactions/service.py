"""Call records: queries and the action functions the telephony subscriber and the agent desktop write through.

`open_interaction` starts a record; `record_leg_event` adds a leg (``started``) and follows it (answered, held,
unheld, monitor); `close_leg` ends a leg, and ends the interaction with its last leg (times derived from the
legs); `close_interaction` records the agent's disposition and notes after wrap-up. Every action emits an
``interaction.*`` event; the agent's disposition is audited. Events and audit records carry ids, parties, times,
causes and rating attributes, never a number or notes.

Derived times (at the end of the interaction):

* ``answered_at``: the first agent leg's answer (an agent took the call); for an outbound call without agent
  legs, the customer's answer.
* ``ring_ms``: start to answer of the first agent leg that answered.
* ``queue_wait_ms``: from ``queued_at`` (set by `record_routing`) to the start of that agent leg (rings that
  were not answered count as waiting), else 0; ``queue_wait_ms + ring_ms`` is the caller's time to answer.
* ``hold_ms``: hold time summed over the customer's legs; ``talk_ms``: agent legs' answered time minus hold.
"""

from __future__ import annotations

import enum
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from callvault.contacts.sensitive import PHONE_SCOPE
from callvault.core import clock, outbox
from callvault.core.errors import Conflict, InvalidInput, NotFound
from callvault.core.ids import new_id
from callvault.core.pagination import paginate
from callvault.core.schemas import Page
from callvault.core.tenant_context import current_tenant
from callvault.interactions.models import Interaction, InteractionLeg, Recording
from callvault.interactions.numbers import leg_number
from callvault.interactions.schemas import (
    InteractionClose,
    InteractionOpen,
    InteractionRead,
    InteractionStatus,
    InteractionSummary,
    LegRead,
    PartyKind,
    RecordingRead,
)
from callvault.interactions.sensitive import LOCAL_NUMBER, NOTES, REMOTE_NUMBER
from callvault.security import audit
from callvault.security.principal import Principal
from callvault.security.sensitive import display, open_field
from callvault.security.vault.runtime import Vault, vault

READ: Final = "interaction.read"
RECORD: Final = "interaction.record"
DISPOSE: Final = "agent.handle"


class LegEventKind(enum.StrEnum):
    STARTED = "started"
    ANSWERED = "answered"
    HELD = "held"
    UNHELD = "unheld"
    MONITOR = "monitor"


@dataclass(frozen=True, slots=True)
class LegEvent:
    """One thing that happened to a leg. ``started`` needs `party` and `direction`; numbers may be SIP URIs."""

    kind: LegEventKind
    call_id: str
    at: datetime
    party: PartyKind | None = None
    direction: str = ""
    remote: str | None = None
    local: str | None = None
    trunk: str = ""
    agent_id: uuid.UUID | None = None
    monitor_mode: str = ""


def _utc(value: datetime) -> datetime:
    """A time as aware UTC (a time without a zone is taken as UTC)."""
    return clock.as_utc(value).astimezone(UTC)


def _ms(start: datetime | None, end: datetime | None) -> int:
    if start is None or end is None:
        return 0
    return max(0, round((end - start).total_seconds() * 1000))


# --- reads ---------------------------------------------------------------------------------------------------


def _summary_fields(row: Interaction) -> dict[str, Any]:
    return {
        "id": row.id,
        "direction": row.direction,
        "channel": row.channel,
        "status": InteractionStatus(row.status),
        "campaign_id": row.campaign_id,
        "queue_id": row.queue_id,
        "flow_id": row.flow_id,
        "entry_point": row.entry_point,
        "source": row.source,
        "source_id": row.source_id,
        "purpose": row.purpose,
        "ivr_path": list(row.ivr_path),
        "disposition": row.disposition,
        "offered_at": row.offered_at,
        "queued_at": row.queued_at,
        "answered_at": row.answered_at,
        "ended_at": row.ended_at,
        "closed_at": row.closed_at,
        "queue_wait_ms": row.queue_wait_ms,
        "ring_ms": row.ring_ms,
        "talk_ms": row.talk_ms,
        "hold_ms": row.hold_ms,
        "wrap_ms": row.wrap_ms,
        "hangup_cause": row.hangup_cause,
        "has_notes": row.notes_ct is not None,
        "created_at": row.created_at,
    }


def _leg_read(session: Session, actor: Principal, leg: InteractionLeg) -> LegRead:
    def masked(column: Any, ciphertext: bytes | None) -> str:
        if ciphertext is None:
            return ""
        plain = open_field(
            session, vault(), actor=actor, column=column, tenant_id=leg.tenant_id, row_id=leg.id, ciphertext=ciphertext
        )
        return display(plain, column, revealed=False)

    return LegRead(
        id=leg.id,
        call_id=leg.call_id,
        party=PartyKind(leg.party),
        direction=leg.direction,
        agent_id=leg.agent_id,
        remote_number_masked=masked(REMOTE_NUMBER, leg.remote_number_ct),
        local_number_masked=masked(LOCAL_NUMBER, leg.local_number_ct),
        destination_type=leg.destination_type,
        destination_prefix=leg.destination_prefix,
        trunk=leg.trunk,
        campaign_id=leg.campaign_id,
        started_at=leg.started_at,
        answered_at=leg.answered_at,
        ended_at=leg.ended_at,
        billable_ms=leg.billable_ms,
        hold_ms=leg.hold_ms,
        state=leg.state,
        hangup_cause=leg.hangup_cause,
        sip_code=leg.sip_code,
        monitor_mode=leg.monitor_mode,
        recording_id=leg.recording_id,
    )


def list_interactions(
    session: Session,
    *,
    actor: Principal,
    limit: int,
    cursor: str | None,
    status: InteractionStatus | None = None,
    campaign_id: uuid.UUID | None = None,
    phone: str | None = None,
    offered_from: datetime | None = None,
    offered_until: datetime | None = None,
    queue_id: uuid.UUID | None = None,
    disposition: str | None = None,
) -> Page[InteractionSummary]:
    """The institution's call records, oldest first; `phone` finds the calls of a number by its blind index.

    `offered_from` is inclusive and `offered_until` exclusive (the time the call was offered, UTC)."""
    actor.require(READ)
    stmt = select(Interaction)
    if status is not None:
        stmt = stmt.where(Interaction.status == status.value)
    if campaign_id is not None:
        stmt = stmt.where(Interaction.campaign_id == campaign_id)
    # Compared in UTC: SQLite compares the stored text, so a +08:00 bound must be moved to UTC first.
    if offered_from is not None:
        stmt = stmt.where(Interaction.offered_at >= _utc(offered_from))
    if offered_until is not None:
        stmt = stmt.where(Interaction.offered_at < _utc(offered_until))
    if queue_id is not None:
        stmt = stmt.where(Interaction.queue_id == queue_id)
    if disposition:
        stmt = stmt.where(Interaction.disposition == disposition)
    if phone:
        found = leg_number(phone)
        if found is None or not found.is_phone:
            raise InvalidInput.one("phone", "not a phone number")
        index = number_index(current_tenant(session), found.value)
        legs = select(InteractionLeg.interaction_id).where(InteractionLeg.remote_number_bidx == index)
        stmt = stmt.where(Interaction.id.in_(legs))
    return paginate(
        session,
        stmt,
        id_column=Interaction.id,
        limit=limit,
        cursor=cursor,
        to_read=lambda row: InteractionSummary(**_summary_fields(row)),
    )


def get_interaction(session: Session, *, actor: Principal, interaction_id: uuid.UUID) -> InteractionRead:
    """One call record with its legs (numbers masked) and recordings."""
    actor.require(READ)
    row = _interaction(session, interaction_id)
    legs = session.scalars(
        select(InteractionLeg)
        .where(InteractionLeg.interaction_id == row.id)
        .order_by(InteractionLeg.started_at, InteractionLeg.id)
    ).all()
    recordings = session.scalars(
        select(Recording).where(Recording.interaction_id == row.id).order_by(Recording.created_at)
    ).all()
    return InteractionRead(
        **_summary_fields(row),
        legs=[_leg_read(session, actor, leg) for leg in legs],
        recordings=[RecordingRead.model_validate(r) for r in recordings],
    )


def legs_for_rating(
    session: Session,
    *,
    actor: Principal,
    ended_from: datetime,
    ended_before: datetime,
    party: PartyKind | None = None,
    after: tuple[datetime, uuid.UUID] | None = None,
    limit: int | None = None,
) -> list[InteractionLeg]:
    """Ended legs in a period, in end order: the rows billing prices (no numbers needed). `party` keeps one kind
    of leg (the customer's are the billable ones: they cross the carrier's trunk); `after` (the last row's end and
    id) and `limit` read a long period page by page."""
    actor.require(READ)
    stmt = select(InteractionLeg).where(InteractionLeg.ended_at >= ended_from, InteractionLeg.ended_at < ended_before)
    if party is not None:
        stmt = stmt.where(InteractionLeg.party == party.value)
    if after is not None:
        at, leg_id = after
        stmt = stmt.where(
            (InteractionLeg.ended_at > at) | ((InteractionLeg.ended_at == at) & (InteractionLeg.id > leg_id))
        )
    stmt = stmt.order_by(InteractionLeg.ended_at, InteractionLeg.id)
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(session.scalars(stmt))


def number_index(tenant_id: uuid.UUID, e164: str, keys: Vault | None = None) -> bytes:
    return (keys or vault()).index.phone(e164, tenant_id=tenant_id, scope=PHONE_SCOPE)


def _interaction(session: Session, interaction_id: uuid.UUID) -> Interaction:
    row = session.get(Interaction, interaction_id)
    if row is None:
        raise NotFound("no such interaction")
    return row


def _leg(session: Session, interaction_id: uuid.UUID, call_id: str) -> InteractionLeg:
    leg = session.scalars(
        select(InteractionLeg).where(InteractionLeg.interaction_id == interaction_id, InteractionLeg.call_id == call_id)
    ).first()
    if leg is None:
        raise NotFound("no such leg in this interaction")
    return leg


# --- actions -------------------------------------------------------------------------------------------------


def _emit(session: Session, actor: Principal, name: str, payload: dict[str, Any]) -> None:
    outbox.emit(session, tenant_slug=actor.tenant_slug, name=f"interaction.{name}", payload=payload)


def open_interaction(
    session: Session, *, actor: Principal, data: InteractionOpen, interaction_id: uuid.UUID | None = None
) -> uuid.UUID:
    """Start the record of a call (the first leg is added with `record_leg_event`).

    `interaction_id`: the id chosen by whoever placed the call (so its own row can point to the record in its
    own transaction). Opening again with the same id, or for the same source, returns the record already there
    (events replayed after a restart write nothing twice)."""
    actor.require(RECORD)
    existing = _existing(session, interaction_id, data)
    if existing is not None:
        session.rollback()
        return existing
    row = Interaction(
        id=interaction_id or new_id(),
        direction=data.direction,
        channel=data.channel,
        status=InteractionStatus.OPEN.value,
        campaign_id=data.campaign_id,
        queue_id=data.queue_id,
        flow_id=data.flow_id,
        entry_point=data.entry_point,
        source=data.source,
        source_id=data.source_id,
        purpose=data.purpose,
        ivr_path=[],
        offered_at=data.offered_at or clock.now(),
    )
    session.add(row)
    session.flush()
    _emit(
        session,
        actor,
        "opened",
        {
            "id": str(row.id),
            "direction": row.direction,
            "campaign_id": str(row.campaign_id) if row.campaign_id else None,
            "source": row.source,
            "source_id": str(row.source_id) if row.source_id else None,
            "offered_at": row.offered_at.isoformat(),
        },
    )
    session.commit()
    return row.id


def _existing(session: Session, interaction_id: uuid.UUID | None, data: InteractionOpen) -> uuid.UUID | None:
    if interaction_id is not None and session.get(Interaction, interaction_id) is not None:
        return interaction_id
    if data.source and data.source_id is not None:
        stmt = select(Interaction.id).where(Interaction.source == data.source, Interaction.source_id == data.source_id)
        return session.scalars(stmt).first()
    return None


def record_routing(
    session: Session,
    *,
    actor: Principal,
    interaction_id: uuid.UUID,
    ivr_path: list[str] | None = None,
    flow_id: uuid.UUID | None = None,
    queue_id: uuid.UUID | None = None,
    queued_at: datetime | None = None,
) -> None:
    """What the IVR and the ACD did with the call: the flow's node path, the queue and when it was queued."""
    actor.require(RECORD)
    row = _interaction(session, interaction_id)
    if ivr_path is not None:
        row.ivr_path = list(ivr_path)
    if flow_id is not None:
        row.flow_id = flow_id
    if queue_id is not None:
        row.queue_id = queue_id
    if queued_at is not None and row.queued_at is None:
        row.queued_at = queued_at
    _emit(
        session,
        actor,
        "routed",
        {"id": str(row.id), "queue_id": str(row.queue_id) if row.queue_id else None, "ivr_steps": len(row.ivr_path)},
    )
    session.commit()


def record_leg_event(session: Session, *, actor: Principal, interaction_id: uuid.UUID, event: LegEvent) -> uuid.UUID:
    """Add a leg (``started``) or follow one; returns the leg's id. Events for an ended leg are ignored."""
    actor.require(RECORD)
    row = _interaction(session, interaction_id)
    if event.kind is LegEventKind.STARTED:
        leg = _start_leg(session, row, event)
        if leg not in session.new:  # the same start delivered again (a replay): already recorded and announced
            leg_id = leg.id
            session.rollback()
            return leg_id
    else:
        leg = _leg(session, interaction_id, event.call_id)
        if leg.state == "ended":
            leg_id = leg.id
            session.rollback()
            return leg_id
        if event.kind is LegEventKind.ANSWERED and leg.answered_at is None:
            leg.answered_at = event.at
            leg.state = "answered"
        elif event.kind is LegEventKind.HELD and leg.held_since is None:
            leg.held_since = event.at
            leg.state = "held"
        elif event.kind is LegEventKind.UNHELD and leg.held_since is not None:
            leg.hold_ms += _ms(leg.held_since, event.at)
            leg.held_since = None
            leg.state = "answered"
        elif event.kind is LegEventKind.MONITOR:
            leg.party = PartyKind.SUPERVISOR.value
            leg.monitor_mode = event.monitor_mode
    session.flush()
    _emit(
        session,
        actor,
        f"leg_{event.kind.value}",
        {
            "interaction_id": str(row.id),
            "leg_id": str(leg.id),
            "party": leg.party,
            "at": event.at.isoformat(),
        },
    )
    session.commit()
    return leg.id


def _start_leg(session: Session, row: Interaction, event: LegEvent) -> InteractionLeg:
    if event.party is None or event.direction not in ("inbound", "outbound"):
        raise InvalidInput.one("event", "a started leg needs its party and direction")
    existing = session.scalars(
        select(InteractionLeg).where(InteractionLeg.interaction_id == row.id, InteractionLeg.call_id == event.call_id)
    ).first()
    if existing is not None:
        return existing  # the same start delivered twice
    keys = vault()
    leg = InteractionLeg(
        id=new_id(),
        interaction_id=row.id,
        call_id=event.call_id,
        party=event.party.value,
        direction=event.direction,
        agent_id=event.agent_id,
        trunk=event.trunk,
        campaign_id=row.campaign_id,
        started_at=event.at,
        state="ringing",
    )
    tenant_id = row.tenant_id
    remote = leg_number(event.remote) if event.remote else None
    if remote is not None:
        leg.remote_number_ct = keys.cipher.encrypt(remote.value, context=REMOTE_NUMBER.context(tenant_id, leg.id))
        if remote.is_phone:
            leg.remote_number_bidx = number_index(tenant_id, remote.value, keys)
        leg.destination_type = remote.destination_type
        leg.destination_prefix = remote.destination_prefix
    local = leg_number(event.local) if event.local else None
    if local is not None:
        leg.local_number_ct = keys.cipher.encrypt(local.value, context=LOCAL_NUMBER.context(tenant_id, leg.id))
    session.add(leg)
    return leg


def close_leg(
    session: Session,
    *,
    actor: Principal,
    interaction_id: uuid.UUID,
    call_id: str,
    at: datetime,
    cause: str,
    sip_code: int | None = None,
) -> bool:
    """End a leg (idempotent); the last leg's end ends the interaction. Returns whether the interaction ended."""
    actor.require(RECORD)
    row = _interaction(session, interaction_id)
    leg = _leg(session, interaction_id, call_id)
    if leg.state == "ended":
        session.rollback()
        return False
    if leg.held_since is not None:
        leg.hold_ms += _ms(leg.held_since, at)
        leg.held_since = None
    leg.ended_at = at
    leg.state = "ended"
    leg.hangup_cause = cause
    leg.sip_code = sip_code
    leg.billable_ms = _ms(leg.answered_at, at)
    session.flush()
    _emit(session, actor, "leg_ended", _rating_payload(row, leg))
    legs = session.scalars(select(InteractionLeg).where(InteractionLeg.interaction_id == row.id)).all()
    ended = row.status == InteractionStatus.OPEN.value and all(x.state == "ended" for x in legs)
    if ended:
        _end_interaction(row, legs, at, cause)
        _emit(
            session,
            actor,
            "ended",
            {"id": str(row.id), "ended_at": at.isoformat(), "hangup_cause": cause, "talk_ms": row.talk_ms},
        )
    session.commit()
    return ended


def _rating_payload(row: Interaction, leg: InteractionLeg) -> dict[str, Any]:
    """What rating needs of an ended leg, without the number."""
    return {
        "interaction_id": str(row.id),
        "leg_id": str(leg.id),
        "party": leg.party,
        "direction": leg.direction,
        "destination_type": leg.destination_type,
        "destination_prefix": leg.destination_prefix,
        "trunk": leg.trunk,
        "campaign_id": str(leg.campaign_id) if leg.campaign_id else None,
        "started_at": leg.started_at.isoformat(),
        "answered_at": leg.answered_at.isoformat() if leg.answered_at else None,
        "ended_at": leg.ended_at.isoformat() if leg.ended_at else None,
        "billable_ms": leg.billable_ms,
        "hangup_cause": leg.hangup_cause,
    }


def _end_interaction(row: Interaction, legs: Any, at: datetime, cause: str) -> None:
    agents = sorted((x for x in legs if x.party == PartyKind.AGENT.value), key=lambda x: x.started_at)
    customers = [x for x in legs if x.party == PartyKind.CUSTOMER.value]
    first_answered = next((x for x in agents if x.answered_at is not None), None)
    if first_answered is not None:
        row.answered_at = first_answered.answered_at
        row.ring_ms = _ms(first_answered.started_at, first_answered.answered_at)
        row.queue_wait_ms = _ms(row.queued_at, first_answered.started_at)
    elif row.direction == "outbound":
        row.answered_at = min((x.answered_at for x in customers if x.answered_at), default=None)
    row.hold_ms = sum(x.hold_ms for x in customers)
    connected = sum(_ms(x.answered_at, x.ended_at) for x in agents)
    if not agents and row.direction == "outbound":
        connected = sum(_ms(x.answered_at, x.ended_at) for x in customers)
    row.talk_ms = max(0, connected - row.hold_ms)
    row.ended_at = at
    row.hangup_cause = next((x.hangup_cause for x in customers), cause)
    row.status = InteractionStatus.ENDED.value


def close_interaction(
    session: Session, *, actor: Principal, interaction_id: uuid.UUID, data: InteractionClose | None
) -> InteractionSummary:
    """The agent's wrap-up: disposition and notes (encrypted); audited, once per interaction."""
    actor.require(DISPOSE)
    row = _interaction(session, interaction_id)
    if data is None:
        raise InvalidInput.one("body", "give the disposition (and notes) as a JSON object")
    if row.status == InteractionStatus.OPEN.value:
        raise Conflict("the call is still up; close it after its last leg has hung up")
    if row.status == InteractionStatus.CLOSED.value:
        raise Conflict("the interaction already has a disposition")
    now = clock.now()
    row.disposition = data.disposition
    if data.notes:
        plain = json.dumps({"text": data.notes}, ensure_ascii=False)
        row.notes_ct = vault().cipher.encrypt(plain, context=NOTES.context(row.tenant_id, row.id))
    row.closed_at = now
    row.wrap_ms = data.wrap_ms if data.wrap_ms is not None else _ms(row.ended_at, now)
    row.status = InteractionStatus.CLOSED.value
    details = {"disposition": data.disposition, "wrap_ms": row.wrap_ms, "notes": bool(data.notes)}
    audit.record(
        session, actor=actor, action="interaction.close", object_type="interactions", object_id=row.id, details=details
    )
    _emit(session, actor, "closed", {"id": str(row.id), **details})
    session.commit()
    return InteractionSummary(**_summary_fields(row))
