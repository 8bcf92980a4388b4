"""Contact lists, contacts and their phone numbers.

Sensitive values are stored only as vault ciphertext (`*_ct` columns, AES-256-GCM under the tenant's data key,
bound to tenant, table, column and row id); exact-match look-ups go through keyed blind indexes (`*_bidx`).
Row ids are generated before the INSERT because they are part of each ciphertext's associated data.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from callvault.core import clock
from callvault.core.ids import new_id
from callvault.core.models import Base, Identified, TenantScoped

BLIND_INDEX_BYTES = 32


class ContactList(Identified, TenantScoped, Base):
    """A named list of contacts; `custom_fields` defines the list's extra columns.

    `purpose` is fixed when the list is created. Each custom field definition is
    ``{"name": str, "label": str, "sensitive": bool, "data_class": str | None}``; sensitive
    custom values are encrypted together in `ContactRecord.custom_sensitive_ct`, the others kept in `custom`.
    """

    __tablename__ = "contact_lists"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_contact_lists_tenant_name"),)

    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(String(500), default="")
    custom_fields: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # What the list is called for (dnc.policy.Purpose): decides which do-not-call entries its import screens out.
    purpose: Mapped[str] = mapped_column(String(24), default="marketing", server_default="marketing")


class ContactRecord(TenantScoped, Base):
    """One contact of a list. `external_ref` is the institution's own customer id (the only identifying value
    kept in data-minimising mode, where details are fetched live)."""

    __tablename__ = "contacts"
    __table_args__ = (
        # A resumed import can never store the same source line twice.
        UniqueConstraint("source_import_id", "source_line", name="uq_contacts_source_import_line"),
        Index("ix_contacts_tenant_id_number_bidx", "tenant_id", "id_number_bidx"),
        Index("ix_contacts_list_id", "list_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    list_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("contact_lists.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    external_ref: Mapped[str | None] = mapped_column(String(120), default=None)
    name_ct: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    id_number_ct: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    id_number_bidx: Mapped[bytes | None] = mapped_column(LargeBinary(BLIND_INDEX_BYTES), default=None)
    card_number_ct: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    custom_sensitive_ct: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    custom: Mapped[dict[str, Any]] = mapped_column(default=dict)
    source_import_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    source_line: Mapped[int | None] = mapped_column(Integer, default=None)


class ContactPhone(TenantScoped, Base):
    """A phone number of a contact, in dialling order (`position` 0 is the primary number)."""

    __tablename__ = "contact_phones"
    __table_args__ = (
        UniqueConstraint("contact_id", "position", name="uq_contact_phones_contact_position"),
        Index("ix_contact_phones_tenant_e164_bidx", "tenant_id", "e164_bidx"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    contact_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("contacts.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    e164_ct: Mapped[bytes] = mapped_column(LargeBinary)
    e164_bidx: Mapped[bytes] = mapped_column(LargeBinary(BLIND_INDEX_BYTES))
    type: Mapped[str] = mapped_column(String(24))
    # For calling windows in the callee's local time: ISO region of the number and its IANA time zone.
    region: Mapped[str] = mapped_column(String(8), default="")
    timezone: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
