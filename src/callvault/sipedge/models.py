"""SIP edge tables: trunks and agent SIP endpoints (per institution) and the operator's DID inventory."""

from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, LargeBinary, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from callvault.core.models import Base, Identified, TenantScoped


class SipTrunk(Identified, TenantScoped, Base):
    """A carrier connection of an institution: where inbound calls come from, or where outbound calls go.

    ``caller_id_rule``: ``keep`` presents what the engine asked for; ``fixed`` replaces it with ``caller_id``."""

    __tablename__ = "sip_trunks"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_sip_trunks_tenant_name"),)

    name: Mapped[str] = mapped_column(String(64))
    direction: Mapped[str] = mapped_column(String(8))  # inbound | outbound
    peer_host: Mapped[str] = mapped_column(String(255))
    peer_port: Mapped[int] = mapped_column(default=5060)
    caller_id_rule: Mapped[str] = mapped_column(String(8), default="keep")
    caller_id: Mapped[str] = mapped_column(String(20), default="")  # the institution's own published number


class SipDid(Identified, Base):
    """One inbound number of the operator's inventory, assigned to at most one institution (unique across all).

    A platform table: the operator owns the number inventory and the SIP front reads every assignment; the
    institution's own queries filter on ``institution_id``. A released number stays in the inventory unassigned
    (no institution, no entry point) until the operator assigns it again. The number is the institution's published
    service number, not customer data, so it is stored in clear (the front routes on it)."""

    __tablename__ = "sip_dids"
    __table_args__ = (UniqueConstraint("number", name="uq_sip_dids_number"),)

    number: Mapped[str] = mapped_column(String(20))
    institution_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), index=True, default=None
    )
    entry_kind: Mapped[str | None] = mapped_column(String(8), default=None)  # ivr | queue; None while unassigned
    entry: Mapped[str | None] = mapped_column(String(80), default=None)  # IVR flow name or queue name


class SipEndpoint(Identified, TenantScoped, Base):
    """An agent's SIP phone account. Its digest credential is stored only as HA1 (MD5 of user:realm:password),
    sealed by the vault under the institution's key; the password itself is shown once and never stored."""

    __tablename__ = "sip_endpoints"
    __table_args__ = (UniqueConstraint("tenant_id", "username", name="uq_sip_endpoints_tenant_username"),)

    username: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id", ondelete="SET NULL"), default=None)
    ha1_ct: Mapped[bytes] = mapped_column(LargeBinary)
    enabled: Mapped[bool] = mapped_column(default=True)
