"""Tariffs and trunk costs (the operator's price lists): queries and action functions.

Only operator staff with `tenant.manage` change prices; each change is audited in the operator's chain and
announced as an event. Amounts are carried as Decimal end to end (JSON stores them as decimal strings).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callvault.billing.models import BillingTariff, BillingTrunkCost
from callvault.billing.rating import Rate
from callvault.billing.schemas import (
    MonthlyFeeIn,
    RateIn,
    TariffCreate,
    TariffRead,
    TariffUpdate,
    TrunkCostCreate,
    TrunkCostRead,
)
from callvault.core import outbox
from callvault.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from callvault.core.ids import new_id
from callvault.core.pagination import paginate
from callvault.core.schemas import Page
from callvault.security import audit
from callvault.security.principal import Principal
from callvault.tenancy import service as tenancy

READ: Final = "billing.read"
MANAGE: Final = "tenant.manage"


def require_operator(actor: Principal) -> None:
    actor.require(MANAGE)
    if not actor.is_operator:
        raise PermissionDenied("prices are kept by the operator")


def _rates_json(rates: Sequence[RateIn]) -> list[Any]:
    return [r.model_dump(mode="json") for r in rates]


def _fees_json(fees: Sequence[MonthlyFeeIn]) -> list[Any]:
    return [f.model_dump(mode="json") for f in fees]


def rates_of(stored: Sequence[Any]) -> list[Rate]:
    return [RateIn.model_validate(r).to_rate() for r in stored]


def fees_of(stored: Sequence[Any]) -> list[MonthlyFeeIn]:
    return [MonthlyFeeIn.model_validate(f) for f in stored]


def _tariff_read(row: BillingTariff) -> TariffRead:
    return TariffRead.model_validate(row)


def _check_institution(session: Session, institution_id: uuid.UUID) -> None:
    try:
        found = tenancy.get(session, tenant_id=institution_id)
    except NotFound:
        found = None
    if found is None or found.is_operator:
        raise InvalidInput.one("institution_id", "no such institution")


# --- tariffs ---------------------------------------------------------------------------------------------------


def list_tariffs(
    session: Session, *, actor: Principal, limit: int, cursor: str | None, institution_id: uuid.UUID | None = None
) -> Page[TariffRead]:
    require_operator(actor)
    stmt = select(BillingTariff)
    if institution_id is not None:
        stmt = stmt.where(BillingTariff.institution_id == institution_id)
    return paginate(session, stmt, id_column=BillingTariff.id, limit=limit, cursor=cursor, to_read=_tariff_read)


def get_tariff(session: Session, *, actor: Principal, tariff_id: uuid.UUID) -> TariffRead:
    require_operator(actor)
    return _tariff_read(_tariff_or_raise(session, tariff_id))


def _tariff_or_raise(session: Session, tariff_id: uuid.UUID) -> BillingTariff:
    row = session.get(BillingTariff, tariff_id)
    if row is None:
        raise NotFound("no such tariff")
    return row


def tariffs_of_institution(session: Session, *, institution_id: uuid.UUID) -> list[BillingTariff]:
    """Every tariff of an institution, oldest start first (rating picks the one in force)."""
    stmt = select(BillingTariff).where(BillingTariff.institution_id == institution_id)
    return list(session.scalars(stmt.order_by(BillingTariff.valid_from)))


def in_force(rows: Sequence[Any], day: date) -> Any | None:
    """Of rows with a `valid_from` sorted ascending, the one in force on `day`."""
    chosen = None
    for row in rows:
        if row.valid_from <= day:
            chosen = row
    return chosen


def _audit_and_emit(
    session: Session, actor: Principal, action: str, object_id: uuid.UUID, details: dict[str, Any]
) -> None:
    table = "billing_tariffs" if action.startswith("billing.tariff.") else "billing_trunk_costs"
    audit.record(session, actor=actor, action=action, object_type=table, object_id=object_id, details=details)
    outbox.emit(session, tenant_slug=actor.tenant_slug, name=action, payload={"id": str(object_id), **details})


def _add_unique(session: Session, row: BillingTariff | BillingTrunkCost, what: str) -> None:
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Conflict(f"{what} with this start date exists") from None


def create_tariff(session: Session, *, actor: Principal, data: TariffCreate) -> TariffRead:
    """Add an institution's price list in force from `valid_from` (a later one supersedes it from its own start)."""
    require_operator(actor)
    _check_institution(session, data.institution_id)
    row = BillingTariff(
        id=new_id(),
        institution_id=data.institution_id,
        name=data.name,
        currency=data.currency,
        valid_from=data.valid_from,
        message_price=data.message_price,
        rates=_rates_json(data.rates),
        monthly_fees=_fees_json(data.monthly_fees),
        updated_by=actor.actor,
    )
    _add_unique(session, row, "a tariff of this institution")
    read = _tariff_read(row)
    details = {"institution_id": str(data.institution_id), "valid_from": data.valid_from.isoformat()}
    _audit_and_emit(session, actor, "billing.tariff.created", row.id, details | {"rates": len(data.rates)})
    session.commit()
    return read


def update_tariff(session: Session, *, actor: Principal, tariff_id: uuid.UUID, data: TariffUpdate) -> TariffRead:
    """Replace a tariff's prices. Legs rated before keep the price they were rated at."""
    require_operator(actor)
    row = _tariff_or_raise(session, tariff_id)
    row.name, row.currency, row.message_price = data.name, data.currency, data.message_price
    row.rates, row.monthly_fees = _rates_json(data.rates), _fees_json(data.monthly_fees)
    row.updated_by = actor.actor
    session.flush()
    read = _tariff_read(row)
    _audit_and_emit(session, actor, "billing.tariff.updated", row.id, {"rates": len(data.rates)})
    session.commit()
    return read


def delete_tariff(session: Session, *, actor: Principal, tariff_id: uuid.UUID) -> None:
    require_operator(actor)
    row = _tariff_or_raise(session, tariff_id)
    session.delete(row)
    _audit_and_emit(session, actor, "billing.tariff.deleted", tariff_id, {"institution_id": str(row.institution_id)})
    session.commit()


# --- trunk costs -----------------------------------------------------------------------------------------------


def list_trunk_costs(session: Session, *, actor: Principal, limit: int, cursor: str | None) -> Page[TrunkCostRead]:
    require_operator(actor)
    return paginate(
        session,
        select(BillingTrunkCost),
        id_column=BillingTrunkCost.id,
        limit=limit,
        cursor=cursor,
        to_read=TrunkCostRead.model_validate,
    )


def _trunk_cost_or_raise(session: Session, trunk_cost_id: uuid.UUID) -> BillingTrunkCost:
    row = session.get(BillingTrunkCost, trunk_cost_id)
    if row is None:
        raise NotFound("no such trunk cost")
    return row


def get_trunk_cost(session: Session, *, actor: Principal, trunk_cost_id: uuid.UUID) -> TrunkCostRead:
    require_operator(actor)
    return TrunkCostRead.model_validate(_trunk_cost_or_raise(session, trunk_cost_id))


def trunk_costs(session: Session) -> dict[str, list[BillingTrunkCost]]:
    """Every trunk's cost tariffs, oldest start first."""
    out: dict[str, list[BillingTrunkCost]] = {}
    for row in session.scalars(select(BillingTrunkCost).order_by(BillingTrunkCost.valid_from)):
        out.setdefault(row.trunk, []).append(row)
    return out


def create_trunk_cost(session: Session, *, actor: Principal, data: TrunkCostCreate) -> TrunkCostRead:
    """Record what the carrier charges for a trunk from `valid_from` on (the basis of margins)."""
    require_operator(actor)
    row = BillingTrunkCost(
        id=new_id(),
        trunk=data.trunk,
        currency=data.currency,
        valid_from=data.valid_from,
        monthly_fee=data.monthly_fee,
        rates=_rates_json(data.rates),
        updated_by=actor.actor,
    )
    _add_unique(session, row, "a cost of this trunk")
    read = TrunkCostRead.model_validate(row)
    details = {"trunk": data.trunk, "valid_from": data.valid_from.isoformat(), "rates": len(data.rates)}
    _audit_and_emit(session, actor, "billing.trunk_cost.created", row.id, details)
    session.commit()
    return read


def delete_trunk_cost(session: Session, *, actor: Principal, trunk_cost_id: uuid.UUID) -> None:
    require_operator(actor)
    row = _trunk_cost_or_raise(session, trunk_cost_id)
    session.delete(row)
    _audit_and_emit(session, actor, "billing.trunk_cost.deleted", trunk_cost_id, {"trunk": row.trunk})
    session.commit()
