"""Writing audit records: every action function calls `record` inside its own transaction.

Each record is the next link of its tenant's hash chain (`security.auditchain`); every N records or minutes the
head is signed as a checkpoint (`security.checkpoints`). `verify_tenant` recomputes a tenant's chain from the
database.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, event, insert, select
from sqlalchemy.orm import Session, SessionTransaction

from callvault.config import get_settings
from callvault.core import clock, outbox
from callvault.core.ids import new_id
from callvault.core.tenant_context import current_tenant
from callvault.security.audit_models import AuditChainHead, AuditCheckpoint, AuditEvent
from callvault.security.auditchain import (
    AuditRecord,
    ChainHead,
    DetailValue,
    VerificationResult,
    genesis_hash,
    new_record,
    verify_chain,
)
from callvault.security.checkpoints import Checkpoint, CheckpointSigner
from callvault.security.principal import Principal

_HEAD_KEY = "callvault.audit_head"
_EVENTS = cast(Table, AuditEvent.__table__)


def signing_key_path() -> Path:
    settings = get_settings()
    return settings.audit_signing_key_file or settings.data_dir / "audit-signing.pem"


@lru_cache(maxsize=1)
def signer() -> CheckpointSigner:
    """The installation's checkpoint key, created (0600) on first use."""
    path = signing_key_path()
    if path.exists():
        return CheckpointSigner.from_file(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return CheckpointSigner.generate_to(path)


def _detail_values(details: Mapping[str, Any] | None) -> dict[str, DetailValue]:
    """The chain stores scalar details: lists (role names, changed fields) become comma-separated text, mappings
    (skill levels) `key=value` pairs, anything else its text form."""
    flat: dict[str, DetailValue] = {}
    for key, value in (details or {}).items():
        if value is None or isinstance(value, str | int | bool):
            flat[key] = value
        elif isinstance(value, Mapping):
            flat[key] = ",".join(f"{k}={v}" for k, v in sorted(value.items(), key=lambda kv: str(kv[0])))
        elif isinstance(value, list | tuple | set | frozenset):
            flat[key] = ",".join(str(v) for v in value)
        else:
            flat[key] = str(value)
    return flat


def record(
    session: Session,
    *,
    actor: Principal,
    action: str,
    object_type: str = "",
    object_id: object = "",
    outcome: str = "success",
    details: dict[str, Any] | None = None,
) -> AuditRecord:
    """Append an audit record to the session's tenant chain. `details` must never hold a sensitive value.

    The row is buffered and written with the transaction's next flush (at the latest its commit), together with
    the head update, as one multi-row insert: per-row ORM inserts were the limit of busy transactions."""
    tenant_id = current_tenant(session)
    chain = _open_chain(session, tenant_id)
    head = chain.head
    link = new_record(
        ChainHead(chain.tenant_text, head.seq, head.hash),
        at=clock.now(),
        actor=actor.actor,
        action=action,
        object_type=object_type,
        object_id=str(object_id) if object_id else "",
        outcome=outcome,
        source_ip=actor.source_ip or None,
        request_id=actor.request_id or None,
        details=_detail_values(details),
    )
    chain.pending.append(
        {
            "id": new_id(),
            "created_at": link.at,
            "tenant_id": tenant_id,
            "seq": link.seq,
            "prev_hash": link.prev_hash,
            "hash": link.hash,
            "at": link.at,
            "actor": link.actor,
            "action": link.action,
            "object_type": link.object_type,
            "object_id": link.object_id,
            "outcome": link.outcome,
            "source_ip": link.source_ip or "",
            "request_id": link.request_id or "",
            "details": dict(link.details),
        }
    )
    head.seq, head.hash = link.seq, link.hash
    _checkpoint_if_due(session, head, link)
    return link


@dataclass
class _OpenChain:
    """A tenant's head row locked by the current transaction and the records not yet written."""

    transaction: SessionTransaction
    tenant_id: uuid.UUID
    tenant_text: str
    head: AuditChainHead
    pending: list[dict[str, Any]] = field(default_factory=list)


def _open_chain(session: Session, tenant_id: uuid.UUID) -> _OpenChain:
    """The tenant's head row, locked for this transaction; read once per transaction, however many appends."""
    transaction = session.get_transaction()
    cached: _OpenChain | None = session.info.get(_HEAD_KEY)
    if cached is not None and cached.transaction is transaction and cached.tenant_id == tenant_id:
        return cached
    if cached is not None and cached.pending and cached.transaction is transaction:
        # Another tenant's records are still buffered: `set_tenant` flushes before switching, so this is a bug.
        raise RuntimeError("audit records of another tenant are pending in this transaction")
    # FOR UPDATE serialises appends per tenant on PostgreSQL; SQLite transactions are already BEGIN IMMEDIATE.
    # populate_existing: sessions keep objects across commits (expire_on_commit=False), and another session may
    # have moved the head since this one last read it.
    found = session.scalars(
        select(AuditChainHead).with_for_update().execution_options(populate_existing=True)
    ).one_or_none()
    if found is None:
        found = AuditChainHead(tenant_id=tenant_id, seq=0, hash=genesis_hash(tenant_id), checkpoint_seq=0)
        session.add(found)
    opened = session.get_transaction()
    assert opened is not None  # the SELECT above began it
    chain = _OpenChain(opened, tenant_id, str(tenant_id), found)
    session.info[_HEAD_KEY] = chain
    return chain


@event.listens_for(Session, "before_flush")
def _write_pending_records(session: Session, _ctx: Any, _instances: Any) -> None:
    """Insert the buffered records before the head update of the same flush (one executemany)."""
    chain: _OpenChain | None = session.info.get(_HEAD_KEY)
    if chain is None or not chain.pending:
        return
    rows, chain.pending = chain.pending, []
    session.connection().execute(insert(_EVENTS), rows)


@event.listens_for(Session, "after_rollback")
def _drop_pending_records(session: Session) -> None:
    session.info.pop(_HEAD_KEY, None)


def _checkpoint_if_due(session: Session, head: AuditChainHead, link: AuditRecord) -> None:
    settings = get_settings()
    last_at = head.checkpoint_at
    due = (
        last_at is None
        or link.seq - head.checkpoint_seq >= settings.audit_checkpoint_every_records
        or (link.at - last_at).total_seconds() >= settings.audit_checkpoint_every_seconds
    )
    if not due:
        return
    cp = signer().sign(ChainHead.of(link), at=link.at)
    session.add(
        AuditCheckpoint(
            tenant_id=head.tenant_id, seq=cp.seq, hash=cp.hash, at=cp.at, key_id=cp.key_id, signature=cp.signature
        )
    )
    head.checkpoint_seq, head.checkpoint_at = cp.seq, cp.at
    # Published off the database after commit (security.witness), in the same transaction as the checkpoint.
    from callvault.tenancy import service as tenancy

    slug = tenancy.get(session, tenant_id=head.tenant_id).slug
    outbox.emit(session, tenant_slug=slug, name="audit.checkpoint", payload=cp.to_dict())


_RECORD_COLUMNS = (
    AuditEvent.seq,
    AuditEvent.tenant_id,
    AuditEvent.at,
    AuditEvent.actor,
    AuditEvent.action,
    AuditEvent.object_type,
    AuditEvent.object_id,
    AuditEvent.outcome,
    AuditEvent.source_ip,
    AuditEvent.request_id,
    AuditEvent.details,
    AuditEvent.prev_hash,
    AuditEvent.hash,
)


def stored_records(session: Session, *, after_seq: int = 0, to_seq: int | None = None) -> Iterator[AuditRecord]:
    """The current tenant's records with seq in (after_seq, to_seq] in chain order, streamed as plain rows (no
    ORM objects: verification of millions of records is bound by row handling)."""
    stmt = (
        select(*_RECORD_COLUMNS)
        .where(AuditEvent.seq > after_seq)
        .order_by(AuditEvent.seq)
        .execution_options(yield_per=5000)
    )
    if to_seq is not None:
        stmt = stmt.where(AuditEvent.seq <= to_seq)
    for row in session.execute(stmt):
        yield _record_of(row)


def chain_head(session: Session) -> ChainHead:
    """The bound tenant's current chain head (genesis for an empty chain)."""
    tenant_id = current_tenant(session)
    found = session.scalars(select(AuditChainHead)).one_or_none()
    if found is None:
        return ChainHead.genesis(tenant_id)
    return ChainHead(str(tenant_id), found.seq, found.hash)


def records_after(session: Session, *, after_seq: int, limit: int) -> list[AuditRecord]:
    """One page of the current tenant's records in chain order (exports read in short transactions)."""
    stmt = select(*_RECORD_COLUMNS).where(AuditEvent.seq > after_seq).order_by(AuditEvent.seq).limit(limit)
    return [_record_of(row) for row in session.execute(stmt)]


def _record_of(row: Any) -> AuditRecord:
    """One stored row (the columns of `_RECORD_COLUMNS`, in that order) as a record."""
    seq, tid, at, actor, action, otype, oid, outcome, ip, rid, details, prev, digest = row
    return AuditRecord(
        seq=seq,
        tenant_id=str(tid),
        at=at,
        actor=actor,
        action=action,
        object_type=otype,
        object_id=oid,
        outcome=outcome,
        source_ip=ip or None,
        request_id=rid or None,
        details=details,
        prev_hash=prev,
        hash=digest,
    )


def stored_checkpoints(session: Session) -> list[Checkpoint]:
    return [
        Checkpoint(tenant_id=str(c.tenant_id), seq=c.seq, hash=c.hash, at=c.at, key_id=c.key_id, signature=c.signature)
        for c in session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.seq))
    ]


def verify_tenant(
    session: Session, *, tenant_id: uuid.UUID, workers: int | None = None, parallel_from: int = 200_000
) -> VerificationResult:
    """Recompute the bound tenant's chain and check it against its signed checkpoints.

    A lean scan over plain rows answers the common case (split at checkpoints over `workers` processes for
    chains of `parallel_from` records or more); only when it finds something wrong does the full verifier run
    again over the records to name the first bad one and the reason."""
    from callvault.security import audit_scan

    checkpoints = stored_checkpoints(session)
    public_key = signer().public_key
    tenant = str(tenant_id)
    if all(cp.tenant_id == tenant and cp.verify(public_key) for cp in checkpoints):
        head_seq = session.scalar(select(AuditChainHead.seq)) or 0
        head = audit_scan.scan_tenant(
            session,
            tenant_id,
            checkpoints,
            workers=workers if head_seq >= parallel_from else 1,
        )
        if head is not None and (not checkpoints or checkpoints[-1].seq <= head.seq):
            return VerificationResult(True, tenant, head.seq, len(checkpoints), head)
    return verify_chain(stored_records(session), checkpoints, public_key, tenant_id=tenant)
