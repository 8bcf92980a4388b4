"""Trigger API: accept an ordered call, show it, and the state changes its execution goes through.

`trigger_call` is the one action function of the API. The worker (`trigger.worker`) moves a request through
`claim` and `complete`; `complete` writes the result and queues its signed webhook in the same transaction, so a
result is never stored without its notification or the other way round. Audit records and events carry ids,
purpose, status and result only: never the number, the variables or the keys pressed.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, cast

from sqlalchemy import CursorResult, Table, insert, select, update
from sqlalchemy.orm import Session

from callvault.acd import service as acd
from callvault.contacts import service as contacts
from callvault.core import clock, outbox
from callvault.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from callvault.core.ids import new_id
from callvault.core.tenant_context import current_tenant
from callvault.dnc import service as dnc
from callvault.dnc.policy import AnnoyanceRules, Purpose, Verdict, call_permitted
from callvault.ivr import service as ivr
from callvault.ivr.flow import FlowDocument
from callvault.ivr.speech import Scalar
from callvault.security import audit
from callvault.security.masking import DataClass, mask
from callvault.security.principal import Principal, system_principal
from callvault.security.vault.runtime import vault
from callvault.tenancy import service as tenancy
from callvault.trigger import sensitive as cols
from callvault.trigger.models import CallRequest
from callvault.trigger.schemas import CallRequestRead, CallResult, CallStatus, TriggerCreate
from callvault.webhooks import service as webhooks

TRIGGER: Final = "call.trigger"
RESULT_EVENT: Final = "call.result"
# An ordered call is checked against do-not-call entries and consent. Caps and quiet hours are campaign rules:
# the institution orders a real-time call (a payment to verify now) and answers for its timing.
TRIGGER_RULES: Final = AnnoyanceRules(max_per_day=None, max_per_week=None, quiet_start=None, quiet_end=None)
_CALL_REQUESTS = cast(Table, CallRequest.__table__)


def _encrypt(session: Session, column: Any, row_id: uuid.UUID, value: str) -> bytes:
    return vault().cipher.encrypt(value, context=column.context(current_tenant(session), row_id))


def _decrypt(session: Session, column: Any, row_id: uuid.UUID, value: bytes | None) -> str:
    if value is None:
        return ""
    return vault().cipher.decrypt_text(value, context=column.context(current_tenant(session), row_id))


def request_read(session: Session, row: CallRequest, *, e164: str | None = None) -> CallRequestRead:
    """The API's view of a request (`e164`: the number, when the caller has it in clear already)."""
    keys = _decrypt(session, cols.KEYPRESSES, row.id, row.keypresses_ct)
    if e164 is None:
        e164 = _decrypt(session, cols.PHONE, row.id, row.phone_ct)
    return CallRequestRead(
        id=row.id,
        status=CallStatus(row.status),
        result=CallResult(row.result) if row.result else None,
        reason=row.reason,
        purpose=Purpose(row.purpose),
        reference=row.reference,
        phone_masked=mask(e164, DataClass.PHONE),
        flow=row.flow,
        queue=row.queue,
        deadline=row.deadline,
        keypresses=json.loads(keys) if keys else [],
        created_at=row.created_at,
        dialled_at=row.dialled_at,
        answered_at=row.answered_at,
        ended_at=row.ended_at,
        completed_at=row.completed_at,
        interaction_id=row.interaction_id,
    )


def get_request(session: Session, *, actor: Principal, request_id: uuid.UUID) -> CallRequestRead:
    actor.require(TRIGGER)
    row = session.get(CallRequest, request_id)
    if row is None:
        raise NotFound("no such call request")
    return request_read(session, row)


def _number(session: Session, data: TriggerCreate) -> str:
    if data.contact_id is not None:
        return contacts.primary_number(session, contact_id=data.contact_id)
    assert data.phone is not None
    return dnc.normalised(data.phone)


def _check_target(session: Session, data: TriggerCreate) -> None:
    if data.flow is not None:
        inputs = ivr.published_inputs(session, name=data.flow)
        if inputs is None:
            raise InvalidInput.one("flow", "no published IVR flow with this name")
        missing = sorted(inputs - set(data.variables))
        if missing:
            raise InvalidInput.one("variables", f"the flow needs: {', '.join(missing)}")
    if data.queue is not None and data.queue not in {q.name for q in acd.list_queues(session)}:
        raise InvalidInput.one("queue", "no queue with this name")


def _verdict(session: Session, *, e164: str, purpose: Purpose) -> Verdict:
    return call_permitted(
        e164,
        purpose,
        clock.now(),
        dnc=dnc.matches_for(session, e164=e164),
        consents=dnc.consents_for(session, e164=e164),
        rules=TRIGGER_RULES,
    )


def trigger_call(
    session: Session,
    *,
    actor: Principal,
    data: TriggerCreate,
    before_commit: Callable[[CallRequestRead], None] | None = None,
) -> CallRequestRead:
    """Accept one ordered call (or refuse it at once with the reason: it is then never dialled).

    `before_commit` gets the answer inside the transaction: the API stores it there for Idempotency-Key retries."""
    actor.require(TRIGGER)
    if actor.kind != "api_client" or actor.id is None:
        raise PermissionDenied("calls are ordered by an institution's API client (signed requests)")
    if not webhooks.has_secret(session, api_client_id=actor.id):
        raise Conflict(
            "this API client has no webhook signing secret yet: create one with POST /api/v1/webhooks/secrets"
        )
    _check_target(session, data)
    e164 = _number(session, data)
    verdict = _verdict(session, e164=e164, purpose=data.purpose)
    now = clock.now()
    row_id = new_id()
    values: dict[str, Any] = {
        "id": row_id,
        "tenant_id": current_tenant(session),
        "created_at": now,
        "api_client_id": actor.id,
        "purpose": data.purpose.value,
        "reference": data.reference,
        "contact_id": data.contact_id,
        "phone_ct": _encrypt(session, cols.PHONE, row_id, e164),
        "variables_ct": _encrypt(session, cols.VARIABLES, row_id, json.dumps(data.variables, ensure_ascii=False)),
        "flow": data.flow,
        "queue": data.queue,
        "deadline": data.deadline,
        "callback_url": data.callback_url,
        "status": CallStatus.ACCEPTED.value,
        "result": None,
        "reason": "",
        "keypresses_ct": None,
        "lease_until": None,
        "dialled_at": None,
        "answered_at": None,
        "ended_at": None,
        "completed_at": None,
    }
    if verdict is not Verdict.ALLOWED:
        values.update(
            status=CallStatus.REFUSED.value, result=CallResult.REFUSED.value, reason=verdict.value, completed_at=now
        )
    # A plain insert of the row (the hot path of the API): the ORM's unit of work for one new object cost more
    # than the statement. The row object below is transient, for the answer and the refusal's webhook only.
    session.connection().execute(insert(_CALL_REQUESTS), values)
    row = CallRequest(**values)
    if verdict is not Verdict.ALLOWED:
        _notify(session, row, e164=e164)
    details = {"purpose": row.purpose, "target": "flow" if row.flow else "queue", "status": row.status}
    if row.reason:
        details["reason"] = row.reason
    audit.record(
        session, actor=actor, action="call.trigger", object_type="call_request", object_id=row.id, details=details
    )
    outbox.emit(session, tenant_slug=actor.tenant_slug, name="call.requested", payload={"id": str(row.id), **details})
    read = request_read(session, row, e164=e164)
    if before_commit is not None:
        before_commit(read)
    session.commit()
    return read


# --- execution -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimedCall:
    """What a worker needs to place one claimed call."""

    tenant_id: uuid.UUID
    request_id: uuid.UUID
    e164: str
    variables: dict[str, Scalar]
    flow: FlowDocument | None
    queue: str | None
    purpose: str = ""


@dataclass
class CallFacts:
    """What happened on the line, for `complete`."""

    result: CallResult
    reason: str = ""
    keypresses: list[str] = field(default_factory=list)
    dialled_at: datetime | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    interaction_id: uuid.UUID | None = None  # the call record of the placed call (None: never originated)


def _worker(session: Session) -> Principal:
    tenant = tenancy.current(session)
    return system_principal(tenant_id=tenant.id, tenant_slug=tenant.slug, tenant_kind=tenant.kind, name="trigger")


def waiting(session: Session, *, limit: int = 100) -> list[uuid.UUID]:
    """Accepted requests of the bound tenant, oldest first."""
    stmt = (
        select(CallRequest.id)
        .where(CallRequest.status == CallStatus.ACCEPTED.value)
        .order_by(CallRequest.created_at)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def claim(session: Session, *, request_id: uuid.UUID, lease: timedelta) -> ClaimedCall | None:
    """Take an accepted request for dialling (commits). None if another worker took it or it was completed here
    without dialling (deadline passed, flow or queue gone)."""
    now = clock.now()
    taken = cast(
        CursorResult[Any],
        session.execute(
            update(CallRequest)
            .where(CallRequest.id == request_id, CallRequest.status == CallStatus.ACCEPTED.value)
            .values(status=CallStatus.DIALLING.value, lease_until=now + lease)
            .execution_options(synchronize_session=False)
        ),
    )
    if taken.rowcount != 1:
        session.rollback()
        return None
    row = session.get(CallRequest, request_id, populate_existing=True)
    assert row is not None
    if row.deadline <= now:
        _finish(session, row, CallFacts(CallResult.FAILED, "deadline_passed"))
        return None
    doc = None
    if row.flow is not None:
        published = ivr.published_flow_named(session, name=row.flow)
        if published is None:
            _finish(session, row, CallFacts(CallResult.FAILED, "flow_unpublished"))
            return None
        doc = published.document
    variables = json.loads(_decrypt(session, cols.VARIABLES, row.id, row.variables_ct) or "{}")
    claimed = ClaimedCall(
        tenant_id=row.tenant_id,
        request_id=row.id,
        e164=_decrypt(session, cols.PHONE, row.id, row.phone_ct),
        variables=variables,
        flow=doc,
        queue=row.queue,
        purpose=row.purpose,
    )
    row.dialled_at = now
    session.commit()
    return claimed


def complete(session: Session, *, request_id: uuid.UUID, facts: CallFacts) -> None:
    """Store the result of a claimed call and queue its webhook (commits). Only a dialling request completes."""
    row = session.get(CallRequest, request_id)
    if row is None or row.status != CallStatus.DIALLING.value:
        session.rollback()
        return
    _finish(session, row, facts)


def recover_interrupted(session: Session) -> int:
    """Complete as failed the requests a dead worker held (lease over): they are never dialled twice."""
    now = clock.now()
    rows = session.scalars(
        select(CallRequest).where(CallRequest.status == CallStatus.DIALLING.value, CallRequest.lease_until < now)
    ).all()
    for row in rows:
        _finish(session, row, CallFacts(CallResult.FAILED, "interrupted"), commit=False)
    session.commit()
    return len(rows)


def _finish(session: Session, row: CallRequest, facts: CallFacts, *, commit: bool = True) -> None:
    now = clock.now()
    row.status, row.result, row.reason = CallStatus.COMPLETED.value, facts.result.value, facts.reason[:60]
    row.answered_at, row.ended_at, row.completed_at, row.lease_until = facts.answered_at, facts.ended_at, now, None
    if facts.dialled_at is not None:
        row.dialled_at = facts.dialled_at
    if facts.interaction_id is not None:
        row.interaction_id = facts.interaction_id
    row.keypresses_ct = _encrypt(session, cols.KEYPRESSES, row.id, json.dumps(facts.keypresses))
    session.flush()
    _notify(session, row)
    actor = _worker(session)
    details = {"result": row.result, "reason": row.reason}
    audit.record(
        session,
        actor=actor,
        action="call.trigger.complete",
        object_type="call_request",
        object_id=row.id,
        details=details,
    )
    outbox.emit(session, tenant_slug=actor.tenant_slug, name="call.completed", payload={"id": str(row.id), **details})
    if commit:
        session.commit()


def _notify(session: Session, row: CallRequest, *, e164: str | None = None) -> None:
    read = request_read(session, row, e164=e164)
    payload = {
        "type": RESULT_EVENT,
        "timestamp": clock.now().isoformat(),
        "data": read.model_dump(mode="json", exclude={"phone_masked"}),
    }
    webhooks.enqueue(
        session, api_client_id=row.api_client_id, url=row.callback_url, event_type=RESULT_EVENT, payload=payload
    )
