"""Browsing the audit trail page by page (the console's audit view), newest first, filtered by time and action."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from callvault.security.audit_models import AuditEvent
from callvault.security.principal import Principal


@dataclass(frozen=True)
class AuditRow:
    seq: int
    at: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    outcome: str
    source_ip: str
    details: dict[str, object]


@dataclass(frozen=True)
class AuditPage:
    rows: list[AuditRow]
    # Pass as `before_seq` for the next (older) page; None on the last page.
    next_before_seq: int | None


def browse(
    session: Session,
    *,
    actor: Principal,
    since: datetime | None = None,
    until: datetime | None = None,
    action: str | None = None,
    before_seq: int | None = None,
    limit: int = 50,
) -> AuditPage:
    """One page of the bound tenant's records (the ORM adds the tenant criterion); `action` matches a prefix,
    so "contact." finds every contact action."""
    actor.require("audit.read")
    stmt = select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(limit + 1)
    if since is not None:
        stmt = stmt.where(AuditEvent.at >= since)
    if until is not None:
        stmt = stmt.where(AuditEvent.at < until)
    if action:
        stmt = stmt.where(AuditEvent.action.startswith(action, autoescape=True))
    if before_seq is not None:
        stmt = stmt.where(AuditEvent.seq < before_seq)
    found = list(session.scalars(stmt))
    rows = [
        AuditRow(
            seq=e.seq,
            at=e.at,
            actor=e.actor,
            action=e.action,
            object_type=e.object_type,
            object_id=e.object_id,
            outcome=e.outcome,
            source_ip=e.source_ip,
            details=dict(e.details or {}),
        )
        for e in found[:limit]
    ]
    return AuditPage(rows=rows, next_before_seq=rows[-1].seq if len(found) > limit else None)
