"""Contact lists and contacts: queries and action functions.

Reads decrypt through the sensitive-column registry and show masked values; `reveal_contact` shows the requested
fields unmasked to holders of ``contact.reveal`` and audits each one (``pii.reveal``, never the value).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from callvault.contacts import sensitive as cols
from callvault.contacts.live import Minimising
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
from callvault.security.sensitive import SensitiveColumn, audit_reveal, display, mask_opaque, open_field
from callvault.security.vault.runtime import vault
from callvault.tenancy import service as tenancy


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


def get_list(session: Session, *, list_id: uuid.UUID) -> ContactList | None:
    return session.get(ContactList, list_id)


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
        purpose=data.purpose.value,
        custom_fields=[f.model_dump(mode="json") for f in data.custom_fields],
    )
    session.add(lst)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="contact_list.create",
        object_type="contact_list",
        object_id=lst.id,
        details={"purpose": lst.purpose},
    )
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


def primary_number(session: Session, *, contact_id: uuid.UUID) -> str:
    """The contact's first phone number (E.164), for placing a call ordered for the contact; never shown."""
    _get(session, contact_id)
    phone = session.scalars(
        select(ContactPhone).where(ContactPhone.contact_id == contact_id).order_by(ContactPhone.position)
    ).first()
    if phone is None:
        raise NotFound("the contact has no phone number")
    return vault().cipher.decrypt_text(phone.e164_ct, context=cols.PHONE.context(current_tenant(session), phone.id))


def get_contact(session: Session, *, actor: Principal, contact_id: uuid.UUID) -> ContactRead:
    """One contact, every sensitive field masked."""
    actor.require("contact.read")
    return _Reader(session, actor).read(_get(session, contact_id), reveal=frozenset()).shown


def reveal_contact(
    session: Session, *, actor: Principal, contact_id: uuid.UUID, data: RevealRequest | None
) -> ContactRead:
    """Show the requested fields unmasked; one audit record per revealed value (field name, never the value)."""
    actor.require("contact.reveal")
    row = _get(session, contact_id)
    if data is None:
        raise InvalidInput.one("body", "name the fields to reveal and the reason")
    reveal = frozenset(data.fields)
    result = _Reader(session, actor).read(row, reveal=reveal)
    for name in sorted(reveal):
        column = cols.REVEALABLE[name]
        if column is cols.PHONE:
            for phone_id in result.phone_ids:
                audit_reveal(
                    session, actor=actor, column=column, row_id=phone_id, reason=data.reason.value, ticket=data.ticket
                )
        elif name in result.present:
            audit_reveal(
                session,
                actor=actor,
                column=column,
                row_id=row.id,
                reason=data.reason.value,
                ticket=data.ticket,
                source=result.source,
            )
    session.commit()
    return result.shown


def find_contacts(
    session: Session,
    *,
    actor: Principal,
    phone: str | None,
    list_id: uuid.UUID | None,
    id_number: str | None = None,
    limit: int,
    cursor: str | None,
) -> Page[ContactRead]:
    """Contacts (masked), optionally only those with exactly this phone or ID number: blind-index look-ups that
    decrypt no other row."""
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
    reader = _Reader(session, actor)
    if id_number is not None:
        index = vault().index.id_number(id_number, tenant_id=current_tenant(session), scope=cols.ID_NUMBER_SCOPE)
        stmt = stmt.where(ContactRecord.id_number_bidx == index)
    return paginate(
        session,
        stmt,
        id_column=ContactRecord.id,
        limit=limit,
        cursor=cursor,
        to_read=lambda row: reader.read(row, reveal=frozenset()).shown,
    )


def contact_id_by_phone(session: Session, *, number: str) -> uuid.UUID | None:
    """Who is calling: the newest contact of the bound institution with exactly this number (blind index; nothing
    decrypted), for the agent's screen pop. None for a number that is not a valid phone number or not on file."""
    try:
        e164 = normalise_phone(number).e164
    except PhoneRejected:
        return None
    index = vault().index.phone(e164, tenant_id=current_tenant(session), scope=cols.PHONE_SCOPE)
    stmt = select(ContactPhone.contact_id).where(ContactPhone.e164_bidx == index)
    return session.scalars(stmt.order_by(ContactPhone.contact_id.desc()).limit(1)).first()


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


@dataclass(frozen=True)
class _Shown:
    shown: ContactRead
    present: frozenset[str]  # sensitive fields that have a value (what a reveal audits)
    phone_ids: list[uuid.UUID]
    source: str  # "stored" or "live"


class _Reader:
    """Builds what a viewer sees of contacts: decrypted (or fetched live) values, masked unless revealed."""

    def __init__(self, session: Session, actor: Principal) -> None:
        self.session = session
        self.actor = actor
        self.vault = vault()
        self.minimising = Minimising.from_settings(tenancy.current(session).settings)
        self._definitions: dict[uuid.UUID, dict[str, CustomField]] = {}

    def definitions(self, list_id: uuid.UUID) -> dict[str, CustomField]:
        if list_id not in self._definitions:
            lst = self.session.get(ContactList, list_id)
            fields = lst.custom_fields if lst is not None else []
            self._definitions[list_id] = {f["name"]: CustomField.model_validate(f) for f in fields}
        return self._definitions[list_id]

    def open(self, column: SensitiveColumn, row_id: uuid.UUID, ciphertext: bytes | None) -> str:
        if ciphertext is None:
            return ""
        return open_field(
            self.session,
            self.vault,
            actor=self.actor,
            column=column,
            tenant_id=current_tenant(self.session),
            row_id=row_id,
            ciphertext=ciphertext,
        )

    def read(self, row: ContactRecord, *, reveal: frozenset[str]) -> _Shown:
        live = self.minimising is not None and row.external_ref is not None
        if live:
            assert self.minimising is not None and row.external_ref is not None
            details = self.minimising.fetch(row.external_ref)
            values = {"name": details.name, "id_number": details.id_number, "card_number": details.card_number}
            secret = dict(details.custom)
        else:
            values = {
                name: self.open(cols.REVEALABLE[name], row.id, getattr(row, cols.REVEALABLE[name].column))
                for name in ("name", "id_number", "card_number")
            }
            raw = self.open(cols.CUSTOM_SENSITIVE, row.id, row.custom_sensitive_ct)
            secret = {k: str(val) for k, val in json.loads(raw).items()} if raw else {}
        custom = {k: str(val) for k, val in row.custom.items()}
        definitions = self.definitions(row.list_id)
        for key, value in secret.items():
            data_class = definitions[key].data_class if key in definitions else None
            if "custom" in reveal:
                custom[key] = value
            else:
                custom[key] = mask(value, data_class) if data_class is not None else mask_opaque(value)
        phones = _phones(self.session, [row.id]).get(row.id, [])
        shown = ContactRead(
            id=row.id,
            list_id=row.list_id,
            created_at=row.created_at,
            external_ref=row.external_ref,
            name=display(values["name"], cols.NAME, revealed="name" in reveal),
            id_number=display(values["id_number"], cols.ID_NUMBER, revealed="id_number" in reveal),
            card_number=display(values["card_number"], cols.CARD_NUMBER, revealed="card_number" in reveal),
            phones=[
                PhoneRead(
                    position=p.position,
                    number=display(self.open(cols.PHONE, p.id, p.e164_ct), cols.PHONE, revealed="phones" in reveal),
                    type=p.type,
                    region=p.region,
                    timezone=p.timezone,
                )
                for p in phones
            ],
            custom=custom,
            revealed=sorted(reveal),
        )
        present = {name for name, value in values.items() if value} | ({"custom"} if secret else set())
        return _Shown(shown, frozenset(present), [p.id for p in phones], "live" if live else "stored")


# --- for the campaign runner -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DialTarget:
    """One number of a contact, decrypted for dialling only (never logged, audited or stored elsewhere)."""

    contact_id: uuid.UUID
    position: int
    e164: str
    phone_bidx: bytes
    type: str
    timezone: str


def contact_page(
    session: Session, *, list_id: uuid.UUID, after: uuid.UUID | None, limit: int
) -> list[tuple[uuid.UUID, dict[str, object]]]:
    """Contacts of a list in id order after `after`, with their plain (non-sensitive) custom fields."""
    stmt = select(ContactRecord.id, ContactRecord.custom).where(ContactRecord.list_id == list_id)
    if after is not None:
        stmt = stmt.where(ContactRecord.id > after)
    return [(row.id, dict(row.custom or {})) for row in session.execute(stmt.order_by(ContactRecord.id).limit(limit))]


def dial_target(session: Session, *, actor: Principal, contact_id: uuid.UUID, position: int) -> DialTarget | None:
    """The contact's number at `position` (0 = primary), or None when it has no number there."""
    phone = session.scalars(
        select(ContactPhone).where(ContactPhone.contact_id == contact_id, ContactPhone.position == position)
    ).one_or_none()
    if phone is None:
        return None
    e164 = open_field(
        session,
        vault(),
        actor=actor,
        column=cols.PHONE,
        tenant_id=current_tenant(session),
        row_id=phone.id,
        ciphertext=phone.e164_ct,
    )
    return DialTarget(contact_id, position, e164, phone.e164_bidx, phone.type, phone.timezone)
