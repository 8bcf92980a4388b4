"""Stored contacts for tests: a list and encrypted contacts written through the real sealing code."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from callvault.contacts import service as contacts
from callvault.contacts.phones import Phone, PhoneType
from callvault.contacts.schemas import ContactListCreate, CustomField
from callvault.contacts.sealing import insert_sealed, seal_contact
from callvault.contacts.validate import Contact
from callvault.core.db import Database
from callvault.security.masking import DataClass
from callvault.security.principal import system_principal
from callvault.security.vault.runtime import vault
from callvault.tenancy import service as tenancy

PHONE = "+8613812348000"
SECOND_PHONE = "+862088881234"
NAME = "张三丰"
ID_NUMBER = "11010519491231002X"
CARD = "6222021234567890123"
EMAIL = "zhang.san@example.com"


@dataclass
class StoredContact:
    tenant_id: uuid.UUID
    list_id: uuid.UUID
    contact_id: uuid.UUID


def store_contact(
    db: Database,
    slug: str,
    *,
    list_name: str = "cards",
    phone: str = PHONE,
    external_ref: str | None = None,
    minimise: bool = False,
) -> StoredContact:
    """Create (or reuse) a list with a sensitive e-mail field and store one fully populated contact."""
    with db.scoped() as session:
        inst = tenancy.bind(session, slug=slug)
        actor = system_principal(tenant_id=inst.id, tenant_slug=inst.slug, tenant_kind=inst.kind)
        lst = contacts.get_list_by_name(session, name=list_name)
        if lst is None:
            contacts.create_list(
                session,
                actor=actor,
                data=ContactListCreate(
                    name=list_name,
                    custom_fields=[
                        CustomField(name="segment"),
                        CustomField(name="email", sensitive=True, data_class=DataClass.EMAIL),
                        CustomField(name="balance", sensitive=True),
                    ],
                ),
            )
            lst = contacts.get_list_by_name(session, name=list_name)
        assert lst is not None
        contact = Contact(
            line=2,
            phones=(Phone(phone, PhoneType.MOBILE), Phone(SECOND_PHONE, PhoneType.FIXED_LINE)),
            name=NAME,
            id_number=ID_NUMBER,
            card_number=CARD,
            custom={"segment": "gold", "email": EMAIL, "balance": "8800.00"},
        )
        sealed = seal_contact(
            vault(),
            tenant_id=inst.id,
            list_id=lst.id,
            contact=contact,
            sensitive_custom=contacts.sensitive_custom_fields(lst),
            external_ref=external_ref,
            minimise=minimise,
        )
        insert_sealed(session, [sealed])
        session.commit()
        return StoredContact(inst.id, lst.id, sealed.id)
