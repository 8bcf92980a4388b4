"""Do-not-call entries and marketing consent records.

A number is stored as a keyed blind index (for look-up) plus vault ciphertext (to show it masked or export
it to an authorised user), never in clear. Institution and campaign entries live in the institution's tenant;
global entries bind every institution and live in a platform table, indexed under the operator's index key so
one look-up serves all tenants; they keep only the masked form for display (no ciphertext, so nothing there
depends on a data key).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from callvault.core.models import Base, Identified, TenantScoped

BLIND_INDEX_BYTES = 32


class _DncColumns:
    phone_bidx: Mapped[bytes] = mapped_column(LargeBinary(BLIND_INDEX_BYTES))
    # A refusal of marketing (False) or no calls at all (True: customer request, regulator, complaint).
    all_purposes: Mapped[bool] = mapped_column(default=False)
    reason: Mapped[str] = mapped_column(String(200), default="")
    source: Mapped[str] = mapped_column(String(40), default="manual")
    added_by: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime | None] = mapped_column(default=None)


class DncEntry(_DncColumns, Identified, TenantScoped, Base):
    """An institution-wide (`campaign_id` empty) or campaign entry of one institution."""

    __tablename__ = "dnc_entries"
    __table_args__ = (Index("ix_dnc_entries_tenant_phone_bidx", "tenant_id", "phone_bidx"),)

    phone_ct: Mapped[bytes] = mapped_column(LargeBinary)
    scope: Mapped[str] = mapped_column(String(16), default="institution")
    # No foreign key: campaigns are a later table; an entry may be added before its campaign is.
    campaign_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)


class GlobalDncEntry(_DncColumns, Identified, Base):
    """A platform-wide entry (the operator's list): binds every institution's calls."""

    __tablename__ = "dnc_global_entries"
    __table_args__ = (Index("ix_dnc_global_entries_phone_bidx", "phone_bidx"),)

    phone_masked: Mapped[str] = mapped_column(String(32))


class ConsentRecord(Identified, TenantScoped, Base):
    """Consent of a number's owner to calls for a purpose (marketing), with its evidence."""

    __tablename__ = "consent_records"
    __table_args__ = (Index("ix_consent_records_tenant_phone_bidx", "tenant_id", "phone_bidx"),)

    phone_bidx: Mapped[bytes] = mapped_column(LargeBinary(BLIND_INDEX_BYTES))
    phone_ct: Mapped[bytes] = mapped_column(LargeBinary)
    purpose: Mapped[str] = mapped_column(String(24), default="marketing")
    granted_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    withdrawn_at: Mapped[datetime | None] = mapped_column(default=None)
    # Evidence: how consent was given (web form, recorded call, signed paper) and a reference to it
    # (call id, document number); never the customer's data itself.
    channel: Mapped[str] = mapped_column(String(40))
    evidence_ref: Mapped[str] = mapped_column(String(200))
    recorded_by: Mapped[str] = mapped_column(String(200))
