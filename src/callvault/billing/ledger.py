"""Rating runs: every closed leg gets exactly one row in the operator's ledger of rated legs.

Legs are rated in batches; a batch's rows, its audit record and its event are one transaction. The ledger's
unique `leg_id` makes a second rating impossible: legs already in the ledger are skipped up front, and an insert
racing another run is dropped by ``ON CONFLICT DO NOTHING``. So a run killed at any point (kill -9 included) leaves
whole batches behind, and the rerun rates exactly the legs that are missing.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from itertools import islice
from typing import Any, Final

from sqlalchemy import Insert, Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from callvault.billing import service
from callvault.billing.models import BillingRatedLeg, BillingTariff, BillingTrunkCost
from callvault.billing.rating import BILLING_TZ, NoRate, Rate, RatingLeg, billing_month, rate_call, rate_leg
from callvault.core import clock, outbox
from callvault.core.ids import new_id
from callvault.core.tenant_context import current_tenant
from callvault.security import audit
from callvault.security.principal import Principal

DEFAULT_BATCH: Final = 500


@dataclass
class RatingRun:
    """What one run did. Every leg read is counted in exactly one of rated / already_rated / still_open /
    unrated (with a reason); unrated legs are rated by a later run once their tariff or rate exists."""

    read: int = 0
    rated: int = 0
    already_rated: int = 0
    still_open: int = 0
    unrated: Counter[str] = field(default_factory=Counter)
    amount: Decimal = Decimal(0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "rated": self.rated,
            "already_rated": self.already_rated,
            "still_open": self.still_open,
            "unrated": dict(self.unrated),
            "amount": str(self.amount),
        }


class PriceBook:
    """Tariffs and trunk costs loaded once per run (rows are small; a run may rate millions of legs)."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._tariffs: dict[uuid.UUID, list[BillingTariff]] = {}
        self._rates: dict[uuid.UUID, list[Rate]] = {}
        self._trunks = service.trunk_costs(session)

    def tariff(self, institution_id: uuid.UUID, day: date) -> BillingTariff | None:
        if institution_id not in self._tariffs:
            self._tariffs[institution_id] = service.tariffs_of_institution(self._session, institution_id=institution_id)
        found: BillingTariff | None = service.in_force(self._tariffs[institution_id], day)
        return found

    def rates(self, row: BillingTariff | BillingTrunkCost) -> list[Rate]:
        if row.id not in self._rates:
            self._rates[row.id] = service.rates_of(row.rates)
        return self._rates[row.id]

    def cost(self, leg: RatingLeg, day: date) -> Decimal | None:
        """What the carrier charges for the leg, or None when the trunk has no cost tariff covering it."""
        row: BillingTrunkCost | None = service.in_force(self._trunks.get(leg.trunk, []), day)
        if row is None:
            return None
        try:
            return rate_call(self.rates(row), leg).amount
        except NoRate:
            return None


def batched(legs: Iterable[RatingLeg], size: int) -> Iterator[list[RatingLeg]]:
    it = iter(legs)
    while batch := list(islice(it, size)):
        yield batch


def rate_legs(
    session: Session,
    *,
    actor: Principal,
    legs: Iterable[RatingLeg],
    batch_size: int = DEFAULT_BATCH,
    on_batch: Callable[[RatingRun], None] | None = None,
) -> RatingRun:
    """Rate every closed leg of `legs` not rated yet, committing batch by batch. The session is the operator's."""
    service.require_operator(actor)
    book = PriceBook(session)
    run = RatingRun()
    for batch in batched(legs, max(1, batch_size)):
        _rate_batch(session, actor, book, batch, run)
        session.commit()
        if on_batch is not None:
            on_batch(run)
    return run


def _rate_batch(session: Session, actor: Principal, book: PriceBook, batch: list[RatingLeg], run: RatingRun) -> None:
    run.read += len(batch)
    closed: dict[uuid.UUID, RatingLeg] = {}
    for leg in batch:
        if not leg.closed:
            run.still_open += 1
        elif leg.leg_id in closed:
            run.already_rated += 1  # the same leg twice in the input
        else:
            closed[leg.leg_id] = leg
    known = set(session.scalars(select(BillingRatedLeg.leg_id).where(BillingRatedLeg.leg_id.in_(list(closed)))))
    run.already_rated += len(known)
    rows = []
    for leg in closed.values():
        if leg.leg_id in known:
            continue
        row = _rated_row(book, leg, run)
        if row is not None:
            rows.append(row)
    if not rows:
        return
    owner = current_tenant(session)
    for row in rows:
        row["tenant_id"] = owner
    inserted = session.execute(_insert_new(session), rows).all()
    run.rated += len(inserted)
    run.already_rated += len(rows) - len(inserted)  # another run stored them between our look-up and insert
    amount = sum((price for _, price in inserted), Decimal(0))
    run.amount += amount
    details = {"rated": len(inserted), "amount": str(amount)}
    audit.record(session, actor=actor, action="billing.legs.rated", object_type="billing_rated_legs", details=details)
    outbox.emit(session, tenant_slug=actor.tenant_slug, name="billing.legs.rated", payload=details)


def _rated_row(book: PriceBook, leg: RatingLeg, run: RatingRun) -> dict[str, Any] | None:
    assert leg.ended_at is not None
    day = leg.ended_at.astimezone(BILLING_TZ).date()
    tariff = book.tariff(leg.tenant_id, day)
    if tariff is None:
        run.unrated["no tariff in force for the institution"] += 1
        return None
    try:
        charge = rate_leg(book.rates(tariff), tariff.message_price, leg)
    except NoRate as exc:
        run.unrated[str(exc)] += 1
        return None
    return {
        "id": new_id(),
        "created_at": clock.now(),
        "leg_id": leg.leg_id,
        "institution_id": leg.tenant_id,
        "campaign_id": leg.campaign_id,
        "channel": leg.channel.value,
        "direction": leg.direction.value,
        "rate_key": charge.rate_key,
        "trunk": leg.trunk,
        "ended_at": leg.ended_at,
        "billing_month": billing_month(leg.ended_at),
        "talk_seconds": leg.talk_seconds,
        "billed_seconds": charge.billed_seconds,
        "unit_price": charge.unit_price,
        "price": charge.amount,
        "tariff_id": tariff.id,
        "cost": book.cost(leg, day),
        "invoice_id": None,
    }


def _insert_new(session: Session) -> Any:
    """An INSERT, run for many rows at once, that skips legs already in the ledger and returns those it stored.
    (Executed with a list of rows, it is compiled once and sent as multi-row statements.)"""
    table = BillingRatedLeg.__table__
    assert isinstance(table, Table)
    stmt: Insert
    if session.get_bind().dialect.name == "postgresql":
        stmt = postgresql.insert(table).on_conflict_do_nothing(index_elements=["leg_id"])
    else:
        stmt = sqlite.insert(table).on_conflict_do_nothing(index_elements=["leg_id"])
    return stmt.returning(table.c.leg_id, table.c.price)
