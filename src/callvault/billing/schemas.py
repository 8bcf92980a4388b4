"""API shapes of tariffs, trunk costs, invoices and the margin report. Money is a decimal string in JSON."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Self

from pydantic import Field, field_validator, model_validator

from callvault.billing.rating import ANY_DESTINATION, NUMBER_TYPES, Direction, Rate
from callvault.core.schemas import ReadModel, StrictInput

Money = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=4)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]


class FeeKind(enum.StrEnum):
    SEAT = "seat"
    NUMBER = "number"
    TRUNK = "trunk"


class RateIn(StrictInput):
    destination: str = Field(
        min_length=1, max_length=32, description="E.164 prefix (+86138), a number type (mobile, toll_free...) or *"
    )
    price_per_minute: Money
    minimum_seconds: int = Field(default=0, ge=0, le=3600)
    increment_seconds: int = Field(default=60, ge=1, le=3600)
    direction: Direction = Direction.OUTBOUND

    @field_validator("destination")
    @classmethod
    def _known_destination(cls, value: str) -> str:
        if value == ANY_DESTINATION or value in NUMBER_TYPES:
            return value
        if value.startswith("+") and value[1:].isdigit() and 1 <= len(value) - 1 <= 15:
            return value
        raise ValueError(f"must be an E.164 prefix like +86138, *, or one of {', '.join(sorted(NUMBER_TYPES))}")

    def to_rate(self) -> Rate:
        return Rate(
            destination=self.destination,
            price_per_minute=self.price_per_minute,
            minimum_seconds=self.minimum_seconds,
            increment_seconds=self.increment_seconds,
            direction=self.direction,
        )


def _unique_rates(rates: list[RateIn]) -> None:
    seen = {(r.direction, r.destination) for r in rates}
    if len(seen) != len(rates):
        raise ValueError("two rates for the same direction and destination")


class MonthlyFeeIn(StrictInput):
    kind: FeeKind
    description: str = Field(min_length=1, max_length=120, description="e.g. 'Agent seats', '400 number', trunk name")
    quantity: int = Field(ge=1, le=100_000)
    unit_price: Money


class TariffCreate(StrictInput):
    institution_id: uuid.UUID
    name: str = Field(min_length=1, max_length=120)
    currency: Currency = "CNY"
    valid_from: date
    message_price: Money = Decimal(0)
    rates: list[RateIn] = Field(default_factory=list, max_length=2000)
    monthly_fees: list[MonthlyFeeIn] = Field(default_factory=list, max_length=200)

    @model_validator(mode="after")
    def _distinct_rates(self) -> Self:
        _unique_rates(self.rates)
        return self


class TariffUpdate(StrictInput):
    """A tariff is replaced as a whole (a price list changes together); institution and start stay."""

    name: str = Field(min_length=1, max_length=120)
    currency: Currency = "CNY"
    message_price: Money = Decimal(0)
    rates: list[RateIn] = Field(default_factory=list, max_length=2000)
    monthly_fees: list[MonthlyFeeIn] = Field(default_factory=list, max_length=200)

    @model_validator(mode="after")
    def _distinct_rates(self) -> Self:
        _unique_rates(self.rates)
        return self


class TariffRead(ReadModel):
    id: uuid.UUID
    institution_id: uuid.UUID
    name: str
    currency: str
    valid_from: date
    message_price: Decimal
    rates: list[RateIn]
    monthly_fees: list[MonthlyFeeIn]
    updated_by: str
    created_at: datetime


class TrunkCostCreate(StrictInput):
    trunk: str = Field(min_length=1, max_length=64)
    currency: Currency = "CNY"
    valid_from: date
    monthly_fee: Money = Decimal(0)
    rates: list[RateIn] = Field(default_factory=list, max_length=2000)

    @model_validator(mode="after")
    def _distinct_rates(self) -> Self:
        _unique_rates(self.rates)
        return self


class TrunkCostRead(ReadModel):
    id: uuid.UUID
    trunk: str
    currency: str
    valid_from: date
    monthly_fee: Decimal
    rates: list[RateIn]
    updated_by: str
    created_at: datetime


class InvoiceLineRead(ReadModel):
    position: int
    kind: str
    description: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    amount: Decimal


class InvoiceRead(ReadModel):
    id: uuid.UUID
    number: str
    month: str
    currency: str
    total: Decimal
    legs: int
    created_at: datetime


class InvoiceDetail(InvoiceRead):
    lines: list[InvoiceLineRead]


class CampaignMargin(ReadModel):
    institution_id: uuid.UUID
    campaign_id: uuid.UUID | None
    legs: int
    billed_minutes: Decimal
    price: Decimal
    cost: Decimal
    margin: Decimal
    legs_without_cost: int
