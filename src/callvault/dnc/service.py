"""Do-not-call entries and consent records: queries, look-ups for the import and the dialer, action functions.

Institutions keep institution and campaign entries; the operator keeps the global list, which binds every
institution. Numbers are normalised like list imports (`contacts.phones.normalise_phone`), then stored as a blind
index plus ciphertext. Audit records and events carry ids and scopes only, never the number.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from callvault.contacts.phones import PhoneRejected, mask_phone, normalise_phone
from callvault.contacts.sensitive import PHONE_SCOPE
from callvault.core import clock, outbox
from callvault.core.errors import InvalidInput, NotFound, PermissionDenied
from callvault.core.ids import new_id
from callvault.core.pagination import paginate
from callvault.core.schemas import Page
from callvault.core.tenant_context import current_tenant
from callvault.dnc.models import ConsentRecord, DncEntry, GlobalDncEntry
from callvault.dnc.policy import (
    MARKETING_PURPOSES,
    ConsentMatch,
    DncMatch,
    DncScope,
    Purpose,
    dnc_blocks,
)
from callvault.dnc.schemas import ConsentCreate, ConsentRead, DncCreate, DncRead
from callvault.dnc.sensitive import CONSENT_PHONE, DNC_PHONE
from callvault.security import audit
from callvault.security.principal import Principal
from callvault.security.sensitive import SensitiveColumn, open_field
from callvault.security.vault.runtime import Vault, vault
from callvault.tenancy import service as tenancy

READ: Final = "dnc.read"
MANAGE: Final = "dnc.manage"
_LOOKUP_CHUNK: Final = 1000


def _operator_id(session: Session) -> uuid.UUID:
    operator = tenancy.operator_id(session)
    if operator is None:
        raise NotFound("the operator tenant does not exist yet; run `callvault db upgrade`")
    return operator


def normalised(phone: str) -> str:
    """E.164 form of a number typed by a person or a system; InvalidInput names the field otherwise."""
    try:
        return normalise_phone(phone).e164
    except PhoneRejected as exc:
        raise InvalidInput.one("phone", exc.reason) from None


def _masked(e164: str) -> str:
    return mask_phone(e164[3:] if e164.startswith("+86") else e164)


def _encrypt(keys: Vault, column: SensitiveColumn, tenant_id: uuid.UUID, row_id: uuid.UUID, e164: str) -> bytes:
    return keys.cipher.encrypt(e164, context=column.context(tenant_id, row_id))


# --- reads ---------------------------------------------------------------------------------------------------


def _entry_read(session: Session, actor: Principal, entry: DncEntry | GlobalDncEntry) -> DncRead:
    if isinstance(entry, GlobalDncEntry):
        scope, campaign_id, masked = DncScope.GLOBAL, None, entry.phone_masked
    else:
        scope, campaign_id = DncScope(entry.scope), entry.campaign_id
        phone = open_field(
            session,
            vault(),
            actor=actor,
            column=DNC_PHONE,
            tenant_id=entry.tenant_id,
            row_id=entry.id,
            ciphertext=entry.phone_ct,
        )
        masked = _masked(phone)
    return DncRead(
        id=entry.id,
        scope=scope,
        campaign_id=campaign_id,
        phone_masked=masked,
        all_purposes=entry.all_purposes,
        reason=entry.reason,
        source=entry.source,
        added_by=entry.added_by,
        expires_at=entry.expires_at,
        created_at=entry.created_at,
    )


def list_entries(
    session: Session, *, actor: Principal, limit: int, cursor: str | None, phone: str | None = None
) -> Page[DncRead]:
    """The caller's entries: the operator sees the global list, an institution its own entries."""
    actor.require(READ)
    tenant_id = current_tenant(session)
    stmt: Select[Any]
    if actor.is_operator:
        stmt = select(GlobalDncEntry)
        if phone:
            stmt = stmt.where(GlobalDncEntry.phone_bidx == _index(tenant_id, normalised(phone)))
        column = GlobalDncEntry.id
    else:
        stmt = select(DncEntry)
        if phone:
            stmt = stmt.where(DncEntry.phone_bidx == _index(tenant_id, normalised(phone)))
        column = DncEntry.id
    return paginate(
        session, stmt, id_column=column, limit=limit, cursor=cursor, to_read=lambda e: _entry_read(session, actor, e)
    )


def _index(tenant_id: uuid.UUID, e164: str, keys: Vault | None = None) -> bytes:
    return (keys or vault()).index.phone(e164, tenant_id=tenant_id, scope=PHONE_SCOPE)


def matches_for(session: Session, *, e164: str, keys: Vault | None = None) -> list[DncMatch]:
    """Every do-not-call entry (global, institution, campaign) for one number, for `call_permitted`."""
    tenant_id = current_tenant(session)
    own = _index(tenant_id, e164, keys)
    found = [
        DncMatch(DncScope(e.scope), e.all_purposes, e.campaign_id, e.expires_at)
        for e in session.scalars(select(DncEntry).where(DncEntry.phone_bidx == own))
    ]
    shared = _index(_operator_id(session), e164, keys)
    found += [
        DncMatch(DncScope.GLOBAL, e.all_purposes, None, e.expires_at)
        for e in session.scalars(select(GlobalDncEntry).where(GlobalDncEntry.phone_bidx == shared))
    ]
    return found


def consents_for(session: Session, *, e164: str, keys: Vault | None = None) -> list[ConsentMatch]:
    """The number's consent records, for `call_permitted`."""
    own = _index(current_tenant(session), e164, keys)
    return [
        ConsentMatch(Purpose(c.purpose), c.granted_at, c.withdrawn_at, c.expires_at)
        for c in session.scalars(select(ConsentRecord).where(ConsentRecord.phone_bidx == own))
    ]


def listing_matches(
    session: Session, *, tenant_id: uuid.UUID, numbers: Mapping[bytes, str], purpose: Purpose, keys: Vault
) -> tuple[dict[bytes, list[DncMatch]], dict[bytes, list[ConsentMatch]]]:
    """For a batch of `numbers` (the tenant's phone blind index -> E.164): the institution-wide and global
    do-not-call entries found for each, and (marketing purposes only) its consent records; the inputs of
    `policy.listing_verdict`. Campaign entries bind a campaign, not a list, and are left to the dialler.
    A few queries per 1,000 numbers, whatever the batch size."""
    entries: dict[bytes, list[DncMatch]] = {}
    consents: dict[bytes, list[ConsentMatch]] = {}
    indexes = list(numbers)
    for start in range(0, len(indexes), _LOOKUP_CHUNK):
        chunk = indexes[start : start + _LOOKUP_CHUNK]
        for e in session.scalars(
            select(DncEntry).where(DncEntry.phone_bidx.in_(chunk), DncEntry.campaign_id.is_(None))
        ):
            entries.setdefault(e.phone_bidx, []).append(DncMatch(DncScope(e.scope), e.all_purposes, None, e.expires_at))
        if purpose in MARKETING_PURPOSES:
            for c in session.scalars(select(ConsentRecord).where(ConsentRecord.phone_bidx.in_(chunk))):
                consents.setdefault(c.phone_bidx, []).append(
                    ConsentMatch(Purpose(c.purpose), c.granted_at, c.withdrawn_at, c.expires_at)
                )
    operator_id = _operator_id(session)
    shared = {_index(operator_id, e164, keys): own for own, e164 in numbers.items()}
    keys_list = list(shared)
    for start in range(0, len(keys_list), _LOOKUP_CHUNK):
        chunk = keys_list[start : start + _LOOKUP_CHUNK]
        for g in session.scalars(select(GlobalDncEntry).where(GlobalDncEntry.phone_bidx.in_(chunk))):
            entries.setdefault(shared[g.phone_bidx], []).append(
                DncMatch(DncScope.GLOBAL, g.all_purposes, None, g.expires_at)
            )
    return entries, consents


def is_blocked(session: Session, *, e164: str, purpose: Purpose, campaign_id: uuid.UUID | None = None) -> bool:
    """Whether any active entry stops a call to `e164` for `purpose` now."""
    return dnc_blocks(matches_for(session, e164=e164), purpose, clock.now(), campaign_id)


# --- actions -------------------------------------------------------------------------------------------------


def add_entry(session: Session, *, actor: Principal, data: DncCreate) -> DncRead:
    """Put a number on the operator's global list or on the institution's (or a campaign's) list."""
    actor.require(MANAGE)
    if actor.is_operator != (data.scope is DncScope.GLOBAL):
        raise PermissionDenied("the operator keeps the global list; institutions keep institution and campaign entries")
    if (data.scope is DncScope.CAMPAIGN) != (data.campaign_id is not None):
        raise InvalidInput.one("campaign_id", "required for campaign entries and only for them")
    if data.expires_at is not None and data.expires_at.tzinfo is None:
        raise InvalidInput.one("expires_at", "must carry a time zone")
    e164 = normalised(data.phone)
    tenant_id = current_tenant(session)
    keys = vault()
    entry: DncEntry | GlobalDncEntry
    if data.scope is DncScope.GLOBAL:
        entry = GlobalDncEntry(id=new_id(), phone_masked=_masked(e164))
        table = GlobalDncEntry.__tablename__
    else:
        entry = DncEntry(id=new_id(), scope=data.scope.value, campaign_id=data.campaign_id)
        entry.phone_ct = _encrypt(keys, DNC_PHONE, tenant_id, entry.id, e164)
        table = DncEntry.__tablename__
    entry.phone_bidx = _index(tenant_id, e164, keys)
    entry.all_purposes = data.all_purposes
    entry.reason = data.reason
    entry.source = data.source
    entry.added_by = actor.actor
    entry.expires_at = data.expires_at
    session.add(entry)
    session.flush()
    read = _entry_read(session, actor, entry)
    details = {"scope": read.scope.value, "all_purposes": data.all_purposes, "source": data.source}
    audit.record(session, actor=actor, action="dnc.add", object_type=table, object_id=entry.id, details=details)
    outbox.emit(session, tenant_slug=actor.tenant_slug, name="dnc.added", payload={"id": str(entry.id), **details})
    session.commit()
    return read


def remove_entry(session: Session, *, actor: Principal, entry_id: uuid.UUID) -> None:
    """Take an entry off the caller's list (the operator's global list, or the institution's)."""
    actor.require(MANAGE)
    entry: DncEntry | GlobalDncEntry | None = (
        session.get(GlobalDncEntry, entry_id) if actor.is_operator else session.get(DncEntry, entry_id)
    )
    if entry is None:
        raise NotFound("no such do-not-call entry")
    table = type(entry).__tablename__
    session.delete(entry)
    audit.record(session, actor=actor, action="dnc.remove", object_type=table, object_id=entry_id)
    outbox.emit(session, tenant_slug=actor.tenant_slug, name="dnc.removed", payload={"id": str(entry_id)})
    session.commit()


def _consent_read(session: Session, actor: Principal, consent: ConsentRecord) -> ConsentRead:
    phone = open_field(
        session,
        vault(),
        actor=actor,
        column=CONSENT_PHONE,
        tenant_id=consent.tenant_id,
        row_id=consent.id,
        ciphertext=consent.phone_ct,
    )
    return ConsentRead(
        id=consent.id,
        purpose=Purpose(consent.purpose),
        phone_masked=_masked(phone),
        granted_at=consent.granted_at,
        expires_at=consent.expires_at,
        withdrawn_at=consent.withdrawn_at,
        channel=consent.channel,
        evidence_ref=consent.evidence_ref,
        recorded_by=consent.recorded_by,
        created_at=consent.created_at,
    )


def record_consent(session: Session, *, actor: Principal, data: ConsentCreate) -> ConsentRead:
    """Store a number's consent to calls for a purpose, with how it was given and where the evidence is."""
    actor.require(MANAGE)
    if actor.is_operator:
        raise PermissionDenied("consent is recorded by the institution that holds it")
    for name in ("granted_at", "expires_at"):
        value: datetime | None = getattr(data, name)
        if value is not None and value.tzinfo is None:
            raise InvalidInput.one(name, "must carry a time zone")
    e164 = normalised(data.phone)
    tenant_id = current_tenant(session)
    keys = vault()
    consent = ConsentRecord(
        id=new_id(),
        purpose=data.purpose.value,
        granted_at=data.granted_at,
        expires_at=data.expires_at,
        channel=data.channel,
        evidence_ref=data.evidence_ref,
        recorded_by=actor.actor,
    )
    consent.phone_bidx = _index(tenant_id, e164, keys)
    consent.phone_ct = _encrypt(keys, CONSENT_PHONE, tenant_id, consent.id, e164)
    session.add(consent)
    session.flush()
    read = _consent_read(session, actor, consent)
    details = {"purpose": data.purpose.value, "channel": data.channel}
    audit.record(
        session,
        actor=actor,
        action="consent.record",
        object_type="consent_record",
        object_id=consent.id,
        details=details,
    )
    outbox.emit(
        session, tenant_slug=actor.tenant_slug, name="consent.recorded", payload={"id": str(consent.id), **details}
    )
    session.commit()
    return read


def withdraw_consent(session: Session, *, actor: Principal, consent_id: uuid.UUID) -> ConsentRead:
    """Mark a consent withdrawn now (the record and its evidence stay)."""
    actor.require(MANAGE)
    consent = session.get(ConsentRecord, consent_id)
    if consent is None:
        raise NotFound("no such consent record")
    if consent.withdrawn_at is None:
        consent.withdrawn_at = clock.now()
    session.flush()
    read = _consent_read(session, actor, consent)
    audit.record(session, actor=actor, action="consent.withdraw", object_type="consent_record", object_id=consent_id)
    outbox.emit(session, tenant_slug=actor.tenant_slug, name="consent.withdrawn", payload={"id": str(consent_id)})
    session.commit()
    return read
