"""Objects the console page tests look at, made through the action functions: campaigns, call records with a
recording, invoices and dead-lettered webhook deliveries; plus form posting and audit reading."""

from __future__ import annotations

import html
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from callvault.billing import invoicing, ledger
from callvault.billing.schemas import InvoiceDetail
from callvault.core.db import Database
from callvault.core.tenant_context import set_tenant
from callvault.identity import api_clients
from callvault.identity import service as identity
from callvault.identity.schemas import ApiClientCreate, RoleCreate
from callvault.interactions import recordings
from callvault.interactions.schemas import RecordingRead
from callvault.security.audit_models import AuditEvent
from callvault.tenancy import service as tenancy
from callvault.webhooks import service as webhooks
from tests.billing.helpers import make_leg, tariff_for, trunk_cost
from tests.fixtures import Account, World
from tests.interactions.helpers import actor_of, ended_call, spoken_wav


def form(s: Any, url: str, **fields: Any) -> Any:
    """A console form as the browser posts it: fields plus the session's CSRF token."""
    return s.client.post(url, data={"csrf": s.csrf, **fields}, follow_redirects=False)


def audit_records(db: Database, tenant_id: uuid.UUID, action: str) -> list[AuditEvent]:
    with db.scoped() as session:
        set_tenant(session, tenant_id)
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))


def role_user(world: World, slug: str, name: str, permissions: list[str]) -> Account:
    """A user of a custom role holding exactly `permissions` (no second factor)."""
    actor = actor_of(world.db, slug)
    with world.db.scoped() as session:
        tenancy.bind(session, slug=slug)
        identity.create_role(
            session, actor=actor, data=RoleCreate(name=name, permissions=permissions, requires_mfa=False)
        )
    return world.user(slug, role=name)


@dataclass
class CallWithRecording:
    interaction_id: uuid.UUID
    recording: RecordingRead


def call_with_recording(db: Database, slug: str, tmp: Path) -> CallWithRecording:
    """An ended inbound call and its recording, a real spoken WAV (espeak-ng) stored encrypted."""
    interaction_id, call_id = ended_call(db, slug)
    source = spoken_wav(tmp / f"worker-{uuid.uuid4().hex[:6]}" / "rec.wav")
    actor = actor_of(db, slug)
    with db.scoped() as session:
        tenancy.bind(session, slug=slug)
        rec = recordings.store_recording(
            session,
            actor=actor,
            interaction_id=interaction_id,
            source=source,
            engine_recording_id=call_id,
            call_id=call_id,
            duration_ms=2500,
        )
    return CallWithRecording(interaction_id, rec)


def audio_source(page: str) -> str:
    """The src of the page's <audio> element, as the browser would request it."""
    found = re.search(r'<audio id="recording-audio"[^>]* src="([^"]+)"', page)
    assert found, "no player on the page"
    return html.unescape(found.group(1))


def october_invoice(db: Database, institution_id: uuid.UUID) -> InvoiceDetail:
    """One rated leg in October 2026 and the institution's invoice for that month (issued by the operator)."""
    tariff_for(db, institution_id)
    trunk_cost(db)
    with db.scoped() as session:
        actor = tenancy.operator_principal(session)
        ledger.rate_legs(session, actor=actor, legs=[make_leg(institution_id)])
        invoice, _ = invoicing.issue_invoice(session, actor=actor, institution_id=institution_id, month="2026-10")
    return invoice


def dead_letter(db: Database, slug: str) -> uuid.UUID:
    """A webhook delivery of the institution's API client that failed every attempt."""
    actor = actor_of(db, slug)
    with db.scoped() as session:
        tenancy.bind(session, slug=slug)
        client = api_clients.create_client(
            session, actor=actor, data=ApiClientCreate(name=f"core-{uuid.uuid4().hex[:4]}", permissions=[])
        )
        webhooks.rotate_secret(session, actor=actor, api_client_id=client.id)
        delivery = webhooks.enqueue(
            session, api_client_id=client.id, url="https://bank.example/hooks", event_type="call.result", payload={}
        )
        delivery.status = webhooks.DEAD
        delivery.attempts = 8
        session.commit()
        return delivery.id
