"""Exporting a tenant's audit chain in the documented form (docs/audit-verification.md).

An export covers records ``first_seq..last_seq``. It starts at seq 1 or right after a signed checkpoint, which it
carries (the *anchor*), so the institution can verify a partial export from that checkpoint without the records
before it. Records are read in short keyset batches, each in its own transaction: an export of millions of rows
needs constant memory and never holds a database lock while the client reads slowly.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callvault.core.db import Database
from callvault.core.errors import InvalidInput
from callvault.core.tenant_context import current_tenant, set_tenant
from callvault.security import audit
from callvault.security.audit_models import AuditChainHead, AuditCheckpoint, AuditEvent
from callvault.security.auditchain import AuditRecord
from callvault.security.canonical import format_time
from callvault.security.checkpoints import Checkpoint
from callvault.security.errors import SensitiveValueError
from callvault.security.principal import Principal

BATCH = 2000
EXPORT_FILES = ("audit.jsonl", "checkpoints.jsonl", "audit-signing-public.pem")


@dataclass(frozen=True, slots=True)
class ExportWindow:
    """Records ``first_seq..last_seq`` of one tenant (empty when last_seq < first_seq)."""

    tenant_id: uuid.UUID
    first_seq: int
    last_seq: int
    anchor: Checkpoint | None  # the signed checkpoint at first_seq - 1; None when first_seq == 1

    @property
    def count(self) -> int:
        return max(0, self.last_seq - self.first_seq + 1)


def _aware(name: str, value: datetime | None) -> datetime | None:
    """Filters are UTC instants: a time without an offset is ambiguous and refused."""
    if value is None:
        return None
    if value.utcoffset() is None:
        raise InvalidInput.one(name, "must be a UTC time with its offset, e.g. 2026-12-01T00:00:00Z")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise InvalidInput.one(name, "is out of range") from None


def plan_window(
    session: Session,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    after_seq: int | None = None,
    to_seq: int | None = None,
) -> ExportWindow:
    """The records to export: `since` <= at < `until`, seq in (after_seq, to_seq], up to the current head.

    With `since`, the window starts right after the last checkpoint before the first record at or after
    `since` (so a few earlier records may be included): the export then verifies from that checkpoint.
    `after_seq` is exact (incremental pulls: the caller holds record `after_seq` and continues from its hash).
    """
    since, until = _aware("since", since), _aware("until", until)
    if since is not None and until is not None and until <= since:
        raise InvalidInput.one("until", "must be later than since")
    tenant_id = current_tenant(session)
    last = session.scalar(select(AuditChainHead.seq)) or 0
    if to_seq is not None:
        last = min(last, to_seq)
    if until is not None:
        last = min(last, session.scalar(select(func.max(AuditEvent.seq)).where(AuditEvent.at < until)) or 0)
    first = 1
    if since is not None:
        first_at = session.scalar(select(func.min(AuditEvent.seq)).where(AuditEvent.at >= since))
        if first_at is None:
            first = last + 1
        else:
            before = session.scalar(select(func.max(AuditCheckpoint.seq)).where(AuditCheckpoint.seq < first_at))
            first = (before or 0) + 1
    if after_seq is not None:
        first = max(first, after_seq + 1)
    anchor = None
    if first > 1:
        row = session.scalars(select(AuditCheckpoint).where(AuditCheckpoint.seq == first - 1)).one_or_none()
        anchor = _checkpoint(row) if row is not None else None
    return ExportWindow(tenant_id, first, last, anchor)


def _checkpoint(row: AuditCheckpoint) -> Checkpoint:
    return Checkpoint(str(row.tenant_id), row.seq, row.hash, row.at, row.key_id, row.signature)


def begin_export(
    session: Session,
    *,
    actor: Principal,
    since: datetime | None = None,
    until: datetime | None = None,
    after_seq: int | None = None,
    to_seq: int | None = None,
    channel: str = "api",
) -> ExportWindow:
    """Check the permission, plan the window and audit the export (filters and counts only); commits."""
    actor.require("audit.read")
    since, until = _aware("since", since), _aware("until", until)
    # Plan after the audit record is written, so a full export includes the record of its own reading.
    filters: dict[str, Any] = {
        "channel": channel,
        "since": format_time(since) if since else None,
        "until": format_time(until) if until else None,
        "after_seq": after_seq,
        "to_seq": to_seq,
    }
    try:
        audit.record(session, actor=actor, action="audit.export", object_type="audit", details=filters)
    except SensitiveValueError:
        # A seq filter that happens to look like a phone number is not kept in the trail, the export still is.
        filters.update(after_seq="withheld", to_seq="withheld")
        audit.record(session, actor=actor, action="audit.export", object_type="audit", details=filters)
    session.flush()
    window = plan_window(session, since=since, until=until, after_seq=after_seq, to_seq=to_seq)
    session.commit()
    return window


def checkpoints_in(session: Session, window: ExportWindow) -> list[Checkpoint]:
    """The anchor and every checkpoint within the window, in seq order."""
    lower = window.first_seq - 1 if window.anchor is not None else window.first_seq
    rows = session.scalars(
        select(AuditCheckpoint)
        .where(AuditCheckpoint.seq >= lower, AuditCheckpoint.seq <= window.last_seq)
        .order_by(AuditCheckpoint.seq)
    )
    return [_checkpoint(r) for r in rows]


def stream_records(db: Database, window: ExportWindow, *, batch: int = BATCH) -> Iterator[AuditRecord]:
    """The window's records in seq order, read in keyset batches of short transactions."""
    next_seq = window.first_seq
    while next_seq <= window.last_seq:
        upper = min(window.last_seq, next_seq + batch - 1)
        with db.scoped() as session:
            set_tenant(session, window.tenant_id)
            rows = list(audit.stored_records(session, after_seq=next_seq - 1, to_seq=upper))
        yield from rows
        next_seq = upper + 1


def jsonl_line(item: AuditRecord | Checkpoint) -> bytes:
    """One line of audit.jsonl / checkpoints.jsonl."""
    return (json.dumps(item.to_dict(), ensure_ascii=False) + "\n").encode("utf-8")
