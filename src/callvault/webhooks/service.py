"""Webhook secrets, deliveries and the dead-letter list: queries and action functions.

`enqueue` adds a delivery inside the caller's transaction (the change and its notification commit together);
`Dispatcher` sends what is due. Audit records and events name deliveries by id, never the body.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from callvault.core import clock, outbox, secretbox
from callvault.core.errors import Conflict, NotFound, PermissionDenied
from callvault.core.ids import new_id
from callvault.core.pagination import paginate
from callvault.core.schemas import Page
from callvault.core.tenant_context import current_tenant
from callvault.identity import api_clients
from callvault.security import audit
from callvault.security.principal import Principal
from callvault.security.vault.runtime import vault
from callvault.webhooks import signing
from callvault.webhooks.models import WebhookDelivery, WebhookSecret
from callvault.webhooks.schemas import DeliveryRead, WebhookSecretCreated
from callvault.webhooks.sensitive import BODY

MANAGE: Final = "webhook.manage"
PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"


def webhook_id(delivery_id: uuid.UUID) -> str:
    return f"msg_{delivery_id.hex}"


def _secret_purpose(row: WebhookSecret) -> str:
    return f"webhook:{row.api_client_id}"


def delivery_read(row: WebhookDelivery) -> DeliveryRead:
    return DeliveryRead(
        id=row.id,
        webhook_id=webhook_id(row.id),
        api_client_id=row.api_client_id,
        event_type=row.event_type,
        url=row.url,
        status=row.status,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at if row.status == PENDING else None,
        last_attempt_at=row.last_attempt_at,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        delivered_at=row.delivered_at,
        dead_at=row.dead_at,
        created_at=row.created_at,
    )


# --- secrets -------------------------------------------------------------------------------------------------


def has_secret(session: Session, *, api_client_id: uuid.UUID) -> bool:
    return (
        session.scalars(select(WebhookSecret.id).where(WebhookSecret.api_client_id == api_client_id)).first()
        is not None
    )


def secret_for(session: Session, *, api_client_id: uuid.UUID) -> str | None:
    row = session.scalars(select(WebhookSecret).where(WebhookSecret.api_client_id == api_client_id)).first()
    return secretbox.unseal(row.secret_sealed, purpose=_secret_purpose(row)).decode() if row is not None else None


def rotate_secret(session: Session, *, actor: Principal, api_client_id: uuid.UUID) -> WebhookSecretCreated:
    """Make (or replace) the secret an API client's webhooks are signed with; returned this once."""
    actor.require(MANAGE)
    if actor.is_operator:
        raise PermissionDenied("webhook secrets belong to institutions' API clients")
    api_clients.get_client(session, client_id=api_client_id)
    row = session.scalars(select(WebhookSecret).where(WebhookSecret.api_client_id == api_client_id)).first()
    replaced = row is not None
    if row is None:
        row = WebhookSecret(api_client_id=api_client_id, secret_sealed=b"")
        session.add(row)
    row.created_at = clock.now()
    secret = signing.new_secret()
    row.secret_sealed = secretbox.seal(secret.encode(), purpose=_secret_purpose(row))
    session.flush()
    details = {"api_client_id": str(api_client_id), "replaced": replaced}
    audit.record(
        session,
        actor=actor,
        action="webhook.secret.rotate",
        object_type="api_client",
        object_id=api_client_id,
        details=details,
    )
    outbox.emit(session, tenant_slug=actor.tenant_slug, name="webhook.secret.rotated", payload=details)
    session.commit()
    return WebhookSecretCreated(api_client_id=api_client_id, created_at=row.created_at, secret=secret)


# --- deliveries ----------------------------------------------------------------------------------------------


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def enqueue(
    session: Session, *, api_client_id: uuid.UUID, url: str, event_type: str, payload: dict[str, Any]
) -> WebhookDelivery:
    """Add a delivery to the current transaction, due at once. The caller commits."""
    row = WebhookDelivery(
        id=new_id(),
        api_client_id=api_client_id,
        event_type=event_type,
        url=url,
        status=PENDING,
        attempts=0,
        next_attempt_at=clock.now(),
    )
    row.body_ct = vault().cipher.encrypt(encode(payload), context=BODY.context(current_tenant(session), row.id))
    session.add(row)
    return row


def body_of(session: Session, row: WebhookDelivery) -> bytes:
    if row.body_ct is None:  # purged by a retention period
        return b""
    return vault().cipher.decrypt(row.body_ct, context=BODY.context(current_tenant(session), row.id))


def list_dead_letters(session: Session, *, actor: Principal, limit: int, cursor: str | None) -> Page[DeliveryRead]:
    actor.require(MANAGE)
    return paginate(
        session,
        select(WebhookDelivery).where(WebhookDelivery.status == DEAD),
        id_column=WebhookDelivery.id,
        limit=limit,
        cursor=cursor,
        to_read=delivery_read,
    )


def get_delivery(session: Session, *, actor: Principal, delivery_id: uuid.UUID) -> DeliveryRead:
    actor.require(MANAGE)
    row = session.get(WebhookDelivery, delivery_id)
    if row is None:
        raise NotFound("no such webhook delivery")
    return delivery_read(row)


def redeliver(session: Session, *, actor: Principal, delivery_id: uuid.UUID) -> DeliveryRead:
    """Put a dead-lettered delivery back in line for a fresh round of attempts (same webhook-id)."""
    actor.require(MANAGE)
    row = session.get(WebhookDelivery, delivery_id)
    if row is None:
        raise NotFound("no such webhook delivery")
    if row.status != DEAD:
        raise Conflict("only dead-lettered deliveries can be redelivered")
    row.status, row.attempts, row.dead_at, row.next_attempt_at = PENDING, 0, None, clock.now()
    session.flush()
    details = {"delivery_id": str(row.id), "event_type": row.event_type}
    audit.record(
        session,
        actor=actor,
        action="webhook.redeliver",
        object_type="webhook_delivery",
        object_id=row.id,
        details=details,
    )
    outbox.emit(session, tenant_slug=actor.tenant_slug, name="webhook.redelivery_requested", payload=details)
    read = delivery_read(row)
    session.commit()
    return read


def claim_due(session: Session, *, limit: int, hold: timedelta) -> list[uuid.UUID]:
    """Pending deliveries of the bound tenant that are due, pushed `hold` into the future (claimed); commits."""
    now = clock.now()
    rows = session.scalars(
        select(WebhookDelivery)
        .where(WebhookDelivery.status == PENDING, WebhookDelivery.next_attempt_at <= now)
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    for row in rows:
        row.next_attempt_at = now + hold
    ids = [r.id for r in rows]
    session.commit()
    return ids
