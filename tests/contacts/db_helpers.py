"""Helpers for import tests against the database: a system actor, reading stored contacts back decrypted."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, select

from callvault.contacts import sensitive as cols
from callvault.contacts.import_models import ImportJob
from callvault.contacts.models import ContactList, ContactPhone, ContactRecord
from callvault.core.db import Database
from callvault.core.tenant_context import set_tenant
from callvault.security.principal import Principal, system_principal
from callvault.security.vault.runtime import vault
from callvault.tenancy import service as tenancy


def actor_for(db: Database, slug: str) -> Principal:
    with db.scoped() as session:
        inst = tenancy.bind(session, slug=slug)
        return system_principal(tenant_id=inst.id, tenant_slug=inst.slug, tenant_kind=inst.kind)


@dataclass(frozen=True)
class Stored:
    line: int | None
    name: str
    phones: tuple[str, ...]


def stored_contacts(db: Database, tenant_id: uuid.UUID, list_name: str) -> list[Stored]:
    """Every contact of the list, decrypted, in source-line order (two queries, whatever the list's size)."""
    keys = vault()
    with db.scoped() as session:
        set_tenant(session, tenant_id)
        list_id = session.scalars(select(ContactList.id).where(ContactList.name == list_name)).one()
        contacts = session.scalars(
            select(ContactRecord).where(ContactRecord.list_id == list_id).order_by(ContactRecord.source_line)
        ).all()
        phones: dict[uuid.UUID, list[str]] = {}
        for phone in session.scalars(
            select(ContactPhone)
            .join(ContactRecord, ContactRecord.id == ContactPhone.contact_id)
            .where(ContactRecord.list_id == list_id)
            .order_by(ContactPhone.contact_id, ContactPhone.position)
        ):
            number = keys.cipher.decrypt_text(phone.e164_ct, context=cols.PHONE.context(tenant_id, phone.id))
            phones.setdefault(phone.contact_id, []).append(number)
        return [
            Stored(
                c.source_line,
                keys.cipher.decrypt_text(c.name_ct, context=cols.NAME.context(tenant_id, c.id)) if c.name_ct else "",
                tuple(phones.get(c.id, ())),
            )
            for c in contacts
        ]


def contact_count(db: Database, tenant_id: uuid.UUID, list_name: str) -> int:
    with db.scoped() as session:
        set_tenant(session, tenant_id)
        return (
            session.scalar(
                select(func.count())
                .select_from(ContactRecord)
                .join(ContactList, ContactList.id == ContactRecord.list_id)
                .where(ContactList.name == list_name)
            )
            or 0
        )


def jobs(db: Database, tenant_id: uuid.UUID) -> list[ImportJob]:
    with db.scoped() as session:
        set_tenant(session, tenant_id)
        return list(session.scalars(select(ImportJob).order_by(ImportJob.id)).all())
