"""Turning a validated `Contact` into encrypted rows for ``contacts`` and ``contact_phones`` (and back).

Every sensitive value is encrypted with the tenant's data key under a context naming tenant, table, column and
the row id, which is generated here before the INSERT. Phones and ID numbers also get a keyed blind index so a
look-up by exact value never decrypts other rows. Batches go in with one multi-row INSERT per table.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import phonenumbers
from phonenumbers import timezone as phone_timezone
from sqlalchemy import insert
from sqlalchemy.orm import Session

from callvault.contacts import sensitive as cols
from callvault.contacts.models import ContactPhone, ContactRecord
from callvault.contacts.sensitive import ID_NUMBER_SCOPE, PHONE_SCOPE
from callvault.contacts.validate import Contact
from callvault.core import clock
from callvault.core.ids import new_id
from callvault.core.tenant_context import current_tenant
from callvault.security.sensitive import SensitiveColumn
from callvault.security.vault.runtime import Vault


@dataclass(frozen=True, slots=True)
class SealedContact:
    """Column values for one ``contacts`` row and its ``contact_phones`` rows, ready for INSERT."""

    contact: dict[str, Any]
    phones: list[dict[str, Any]]

    @property
    def id(self) -> uuid.UUID:
        value: uuid.UUID = self.contact["id"]
        return value


@lru_cache(maxsize=4096)
def region_and_timezone(e164: str) -> tuple[str, str]:
    """ISO region and IANA time zone of a number, for calling windows in the callee's local time."""
    if e164.startswith("+86"):
        return "CN", "Asia/Shanghai"  # one time zone for the whole of mainland China
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return "", ""
    zones = [z for z in phone_timezone.time_zones_for_number(number) if z != "Etc/Unknown"]
    return phonenumbers.region_code_for_number(number) or "", zones[0] if len(zones) == 1 else ""


def seal_contact(
    v: Vault,
    *,
    tenant_id: uuid.UUID,
    list_id: uuid.UUID,
    contact: Contact,
    sensitive_custom: Collection[str] = (),
    source_import_id: uuid.UUID | None = None,
    external_ref: str | None = None,
    minimise: bool = False,
) -> SealedContact:
    """Encrypt one validated contact; custom fields named in `sensitive_custom` are encrypted, the rest kept plain.

    With `minimise` (the institution's data-minimising mode) only `external_ref` and the phone numbers are kept:
    name, ID and card numbers and sensitive custom fields are dropped, to be fetched live when shown.
    """
    if minimise and not external_ref:
        raise ValueError("data-minimising mode needs the institution's reference id for every contact")
    contact_id = new_id()
    now = clock.now()

    def seal(column: SensitiveColumn, value: str | None) -> bytes | None:
        if value is None or value == "" or minimise:
            return None
        return v.cipher.encrypt(value, context=column.context(tenant_id, contact_id))

    custom = contact.custom or {}
    secret = {k: val for k, val in custom.items() if k in sensitive_custom}
    plain = {k: val for k, val in custom.items() if k not in sensitive_custom}
    row: dict[str, Any] = {
        "id": contact_id,
        "tenant_id": tenant_id,
        "list_id": list_id,
        "created_at": now,
        "external_ref": external_ref,
        "name_ct": seal(cols.NAME, contact.name),
        "id_number_ct": seal(cols.ID_NUMBER, contact.id_number),
        "id_number_bidx": (
            v.index.id_number(contact.id_number, tenant_id=tenant_id, scope=ID_NUMBER_SCOPE)
            if contact.id_number and not minimise
            else None
        ),
        "card_number_ct": seal(cols.CARD_NUMBER, contact.card_number),
        "custom_sensitive_ct": seal(
            cols.CUSTOM_SENSITIVE, json.dumps(secret, ensure_ascii=False, sort_keys=True) if secret else None
        ),
        "custom": plain,
        "source_import_id": source_import_id,
        "source_line": contact.line if source_import_id is not None else None,
    }
    phones = []
    for position, phone in enumerate(contact.phones):
        phone_id = new_id()
        region, tz = region_and_timezone(phone.e164)
        phones.append(
            {
                "id": phone_id,
                "tenant_id": tenant_id,
                "contact_id": contact_id,
                "position": position,
                "e164_ct": v.cipher.encrypt(phone.e164, context=cols.PHONE.context(tenant_id, phone_id)),
                "e164_bidx": v.index.phone(phone.e164, tenant_id=tenant_id, scope=PHONE_SCOPE),
                "type": phone.type.value,
                "region": region,
                "timezone": tz,
                "created_at": now,
            }
        )
    return SealedContact(contact=row, phones=phones)


def insert_sealed(session: Session, sealed: Sequence[SealedContact]) -> None:
    """INSERT a batch of sealed contacts in the session's transaction (the caller commits)."""
    if not sealed:
        return
    tenant_id = current_tenant(session)
    if any(s.contact["tenant_id"] != tenant_id for s in sealed):
        raise ValueError("sealed contacts belong to another tenant than the session")
    session.execute(insert(ContactRecord), [s.contact for s in sealed])
    phones = [p for s in sealed for p in s.phones]
    if phones:
        session.execute(insert(ContactPhone), phones)
