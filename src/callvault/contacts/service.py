"""Contact lists and contacts: queries and action functions.

Reads decrypt through the sensitive-column registry and show masked values; `reveal_contact` shows the requested
fields unmasked to holders of ``contact.reveal`` and audits each one (``pii.reveal``, never the value).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from callvault.contacts import sensitive as cols
from callvault.contacts.models import ContactList, ContactPhone, ContactRecord
from callvault.contacts.phones import PhoneRejected, normalise_phone
from callvault.contacts.schemas import (
    ContactListCreate,
    ContactListRead,
    ContactRead,
    CustomField,
    PhoneRead,
    RevealRequest,
)
from callvault.core import outbox
from callvault.core.errors import Conflict, InvalidInput, NotFound
from callvault.core.pagination import paginate
from callvault.core.schemas import Page
from callvault.core.tenant_context import current_tenant
from callvault.security import audit
from callvault.security.masking import mask
from callvault.security.principal import Principal
from callvault.security.sensitive import audit_reveal, display, mask_opaque, open_field
from callvault.security.vault.runtime import Vault, vault


def list_lists(session: Session, *, actor: Principal, limit: int, cursor: str | None) -> Page[ContactListRead]:
    actor.require("contact.read")
    return paginate(
        session,
        select(ContactList),
        id_column=ContactList.id,
        limit=limit,
        cursor=cursor,
        to_read=ContactListRead.model_validate,
    )


def get_list_by_name(session: Session, *, name: str) -> ContactList | None:
    return session.scalars(select(ContactList).where(ContactList.name == name)).one_or_none()


def create_list(session: Session, *, actor: Principal, data: ContactListCreate) -> ContactListRead:
    """Create a contact list with its custom field definitions."""
    actor.require("contact.import")
    if get_list_by_name(session, name=data.name) is not None:
        raise Conflict("a contact list with this name exists")
    names = [f.name for f in data.custom_fields]
    if len(set(names)) != len(names):
        raise InvalidInput.one("custom_fields", "field names must be unique")
    lst = ContactList(
        name=data.name,
        description=data.description,
        custom_fields=[f.model_dump(mode="json") for f in data.custom_fields],
    )
    session.add(lst)
    session.flush()
    audit.record(session, actor=actor, action="contact_list.create", object_type="contact_list", object_id=lst.id)
    read = ContactListRead.model_validate(lst)
    outbox.emit(
        session, tenant_slug=actor.tenant_slug, name="contact_list.created", payload=read.model_dump(mode="json")
    )
    session.commit()
    return read


def sensitive_custom_fields(lst: ContactList) -> frozenset[str]:
    """Names of the list's custom fields stored encrypted."""
    return frozenset(f["name"] for f in lst.custom_fields if f.get("sensitive"))


def _get(session: Session, contact_id: uuid.UUID) -> ContactRecord:
    found = session.get(ContactRecord, contact_id)
    if found is None:
        raise NotFound("no such contact")
    return found


def get_contact(session: Session, *, actor: Principal, contact_id: uuid.UUID) -> ContactRead:
    """One contact, every sensitive field masked."""
    actor.require("contact.read")
    return _read(session, actor, _get(session, contact_id), reveal=frozenset())


def reveal_contact(
    session: Session, *, actor: Principal, contact_id: uuid.UUID, data: RevealRequest | None
) -> ContactRead:
    """Show the requested fields unmasked; one audit record per revealed value (field name, never the value)."""
    actor.require("contact.reveal")
    row = _get(session, contact_id)
    if data is None:
        raise InvalidInput.one("body", "name the fields to reveal and the reason")
    reveal = frozenset(data.fields)
    read = _read(session, actor, row, reveal=reveal)
    for name in sorted(reveal):
        column = cols.REVEALABLE[name]
        if column is cols.PHONE:
            for phone in _phones(session, [row.id]).get(row.id, []):
                audit_reveal(
                    session, actor=actor, column=column, row_id=phone.id, reason=data.reason.value, ticket=data.ticket
                )
        elif getattr(row, column.column) is not None:
            audit_reveal(
                session, actor=actor, column=column, row_id=row.id, reason=data.reason.value, ticket=data.ticket
            )
    session.commit()
    return read


def find_contacts(
    session: Session,
    *,
    actor: Principal,
    phone: str | None,
    list_id: uuid.UUID | None,
    limit: int,
    cursor: str | None,
) -> Page[ContactRead]:
    """Contacts (masked), optionally only those with exactly this phone number: a blind-index look-up that
    decrypts no other row."""
    actor.require("contact.read")
    stmt = select(ContactRecord)
    if list_id is not None:
        stmt = stmt.where(ContactRecord.list_id == list_id)
    if phone is not None:
        try:
            e164 = normalise_phone(phone).e164
        except PhoneRejected as exc:
            raise InvalidInput.one("phone", exc.reason) from None
        index = vault().index.phone(e164, tenant_id=current_tenant(session), scope=cols.PHONE_SCOPE)
        stmt = stmt.where(ContactRecord.id.in_(select(ContactPhone.contact_id).where(ContactPhone.e164_bidx == index)))
    return paginate(
        session,
        stmt,
        id_column=ContactRecord.id,
        limit=limit,
        cursor=cursor,
        to_read=lambda row: _read(session, actor, row, reveal=frozenset()),
    )


def _phones(session: Session, contact_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[ContactPhone]]:
    out: dict[uuid.UUID, list[ContactPhone]] = {}
    rows = session.scalars(
        select(ContactPhone)
        .where(ContactPhone.contact_id.in_(list(contact_ids)))
        .order_by(ContactPhone.contact_id, ContactPhone.position)
    )
    for p in rows:
        out.setdefault(p.contact_id, []).append(p)
    return out


def _read(session: Session, actor: Principal, row: ContactRecord, *, reveal: frozenset[str]) -> ContactRead:
    v = vault()
    tenant_id = row.tenant_id
    lst = session.get(ContactList, row.list_id)
    definitions = {f["name"]: CustomField.model_validate(f) for f in (lst.custom_fields if lst else [])}

    def field(name: str) -> str:
        column = cols.REVEALABLE[name]
        ciphertext = getattr(row, column.column)
        if ciphertext is None:
            return ""
        plain = open_field(
            session, v, actor=actor, column=column, tenant_id=tenant_id, row_id=row.id, ciphertext=ciphertext
        )
        return display(plain, column, revealed=name in reveal)

    custom = {k: str(val) for k, val in row.custom.items()}
    custom.update(_custom_sensitive(session, v, actor, row, definitions, revealed="custom" in reveal))
    phones = [
        PhoneRead(
            position=p.position,
            number=display(
                open_field(
                    session, v, actor=actor, column=cols.PHONE, tenant_id=tenant_id, row_id=p.id, ciphertext=p.e164_ct
                ),
                cols.PHONE,
                revealed="phones" in reveal,
            ),
            type=p.type,
            region=p.region,
            timezone=p.timezone,
        )
        for p in _phones(session, [row.id]).get(row.id, [])
    ]
    return ContactRead(
        id=row.id,
        list_id=row.list_id,
        created_at=row.created_at,
        external_ref=row.external_ref,
        name=field("name"),
        id_number=field("id_number"),
        card_number=field("card_number"),
        phones=phones,
        custom=custom,
        revealed=sorted(reveal),
    )


def _custom_sensitive(
    session: Session,
    v: Vault,
    actor: Principal,
    row: ContactRecord,
    definitions: dict[str, CustomField],
    *,
    revealed: bool,
) -> dict[str, str]:
    if row.custom_sensitive_ct is None:
        return {}
    plain = open_field(
        session,
        v,
        actor=actor,
        column=cols.CUSTOM_SENSITIVE,
        tenant_id=row.tenant_id,
        row_id=row.id,
        ciphertext=row.custom_sensitive_ct,
    )
    values: dict[str, str] = {k: str(val) for k, val in json.loads(plain).items()}
    if revealed:
        return values
    out = {}
    for key, value in values.items():
        data_class = definitions[key].data_class if key in definitions else None
        out[key] = mask(value, data_class) if data_class is not None else mask_opaque(value)
    return out
