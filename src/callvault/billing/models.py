"""Billing tables.

The price list of each institution (tariff), the telecom cost of each trunk and the ledger of rated legs are the
operator's business records: they live in the operator's tenant and name the institution in `institution_id`.
Invoices and their lines are documents delivered to the institution: they live in the institution's tenant, so
its users read them and its export carries them.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Numeric, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from callvault.core.models import Base, Identified, TenantScoped

MONEY = Numeric(18, 4)


class BillingTariff(Identified, TenantScoped, Base):
    """An institution's prices from `valid_from` on: per-minute rates, a per-message price, monthly fees."""

    __tablename__ = "billing_tariffs"
    __table_args__ = (
        UniqueConstraint("tenant_id", "institution_id", "valid_from", name="uq_billing_tariffs_institution_from"),
    )

    institution_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    name: Mapped[str] = mapped_column(String(120))
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    valid_from: Mapped[date] = mapped_column()
    message_price: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(0))
    # Rates and monthly fees as validated JSON (amounts as decimal strings): a tariff is replaced as a whole.
    rates: Mapped[list[Any]] = mapped_column(JSON)
    monthly_fees: Mapped[list[Any]] = mapped_column(JSON)
    updated_by: Mapped[str] = mapped_column(String(200))


class BillingTrunkCost(Identified, TenantScoped, Base):
    """What a carrier charges the operator for calls over one trunk, from `valid_from` on."""

    __tablename__ = "billing_trunk_costs"
    __table_args__ = (UniqueConstraint("tenant_id", "trunk", "valid_from", name="uq_billing_trunk_costs_trunk_from"),)

    trunk: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    valid_from: Mapped[date] = mapped_column()
    rates: Mapped[list[Any]] = mapped_column(JSON)
    monthly_fee: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(0))
    updated_by: Mapped[str] = mapped_column(String(200))


class BillingRatedLeg(Identified, TenantScoped, Base):
    """One closed leg, rated once: `leg_id` is unique, so a second rating of the same leg cannot be stored."""

    __tablename__ = "billing_rated_legs"
    __table_args__ = (
        UniqueConstraint("leg_id", name="uq_billing_rated_legs_leg_id"),
        Index("ix_billing_rated_legs_institution_month", "institution_id", "billing_month"),
    )

    # No foreign key: call records are their own domain and may be archived before the ledger.
    leg_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    institution_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    campaign_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    channel: Mapped[str] = mapped_column(String(16))
    direction: Mapped[str] = mapped_column(String(16))
    rate_key: Mapped[str] = mapped_column(String(32))
    trunk: Mapped[str] = mapped_column(String(64))
    ended_at: Mapped[datetime] = mapped_column()
    billing_month: Mapped[str] = mapped_column(String(7))
    talk_seconds: Mapped[int] = mapped_column()
    billed_seconds: Mapped[int] = mapped_column()
    # The per-minute (or per-message) price applied, so invoices group legs by the price they were rated at.
    unit_price: Mapped[Decimal] = mapped_column(MONEY)
    price: Mapped[Decimal] = mapped_column(MONEY)
    tariff_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    # Unknown (no cost tariff for the trunk) rather than zero, so a margin is never overstated silently.
    cost: Mapped[Decimal | None] = mapped_column(MONEY, default=None)
    invoice_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None, index=True)


class BillingInvoice(Identified, TenantScoped, Base):
    """An institution's invoice for one month; issued once (unique per month), never changed afterwards."""

    __tablename__ = "billing_invoices"
    __table_args__ = (UniqueConstraint("tenant_id", "month", name="uq_billing_invoices_tenant_month"),)

    number: Mapped[str] = mapped_column(String(40))
    month: Mapped[str] = mapped_column(String(7))
    currency: Mapped[str] = mapped_column(String(3))
    total: Mapped[Decimal] = mapped_column(MONEY)
    legs: Mapped[int] = mapped_column()
    issued_by: Mapped[str] = mapped_column(String(200))


class BillingInvoiceLine(Identified, TenantScoped, Base):
    __tablename__ = "billing_invoice_lines"

    invoice_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("billing_invoices.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column()
    kind: Mapped[str] = mapped_column(String(16))  # voice, message, seat, number, trunk, rounding
    description: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[Decimal] = mapped_column(MONEY)
    unit: Mapped[str] = mapped_column(String(16))
    unit_price: Mapped[Decimal] = mapped_column(MONEY)
    amount: Mapped[Decimal] = mapped_column(MONEY)
