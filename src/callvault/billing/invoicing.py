"""Monthly invoices and the cost and margin report.

An invoice takes every rated leg of the institution that no invoice holds yet, up to the end of its month (a leg
rated late lands on the next invoice instead of being lost), groups them into lines by rate and price, adds the
monthly fees of the tariff in force at the month's end, and rounds once, at the total, to the fen. Issuing writes
the invoice (in the institution's tenant) and marks its legs (in the operator's ledger) in one transaction, so an
invoice exists with all of its legs or not at all, and a leg can be on one invoice only.
"""

from __future__ import annotations

import calendar
import re
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Final

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from callvault.billing import service
from callvault.billing.models import BillingInvoice, BillingInvoiceLine, BillingRatedLeg
from callvault.billing.rating import BILLING_TZ, INVOICE_QUANTUM, LEG_QUANTUM
from callvault.billing.schemas import CampaignMargin, InvoiceDetail, InvoiceLineRead, InvoiceRead, MonthlyFeeIn
from callvault.core import clock, outbox
from callvault.core.errors import InvalidInput, NotFound
from callvault.core.ids import new_id
from callvault.core.pagination import paginate
from callvault.core.schemas import Page
from callvault.core.tenant_context import tenant
from callvault.security import audit
from callvault.security.principal import Principal
from callvault.tenancy import service as tenancy

MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_CHUNK: Final = 5000  # ids per UPDATE: well under SQLite's 32,766 bound parameters
_DIRECTION_TEXT: Final = {"outbound": "Outbound calls", "inbound": "Inbound calls"}


def parse_month(month: str) -> tuple[date, date]:
    """First and last day of a ``YYYY-MM`` month."""
    found = MONTH.match(month)
    if found is None:
        raise InvalidInput.one("month", "must be YYYY-MM, e.g. 2026-11")
    year, number = int(found.group(1)), int(found.group(2))
    return date(year, number, 1), date(year, number, calendar.monthrange(year, number)[1])


def _month_over(last_day: date) -> bool:
    return clock.now().astimezone(BILLING_TZ).date() > last_day


@dataclass(frozen=True)
class Line:
    kind: str
    description: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    amount: Decimal


@dataclass(frozen=True)
class RatedItem:
    """A rated leg as an invoice needs it."""

    id: uuid.UUID
    channel: str
    direction: str
    rate_key: str
    unit_price: Decimal
    billed_seconds: int
    price: Decimal


@dataclass
class _Group:
    count: int = 0
    seconds: int = 0
    amount: Decimal = Decimal(0)


def usage_lines(items: Iterable[RatedItem]) -> list[Line]:
    """One line per (channel, direction, rate, price): its amount is the exact sum of its legs' prices."""
    groups: dict[tuple[str, str, str, Decimal], _Group] = defaultdict(_Group)
    for item in items:
        group = groups[(item.channel, item.direction, item.rate_key, item.unit_price)]
        group.count += 1
        group.seconds += item.billed_seconds
        group.amount += item.price
    lines = []
    for (channel, direction, rate_key, unit_price), group in sorted(groups.items()):
        if channel == "message":
            lines.append(Line("message", "Messages", Decimal(group.count), "msg", unit_price, group.amount))
            continue
        minutes = (Decimal(group.seconds) / 60).quantize(LEG_QUANTUM, rounding=ROUND_HALF_UP)
        text = f"{_DIRECTION_TEXT.get(direction, direction)} to {rate_key} ({group.count} calls)"
        lines.append(Line("voice", text, minutes, "min", unit_price, group.amount))
    return lines


def fee_lines(fees: list[MonthlyFeeIn]) -> list[Line]:
    return [
        Line(f.kind.value, f.description, Decimal(f.quantity), "month", f.unit_price, f.quantity * f.unit_price)
        for f in fees
    ]


def with_rounding(lines: list[Line]) -> tuple[list[Line], Decimal]:
    """The lines plus a rounding line when needed, and the total to the fen (the sum of all the lines)."""
    exact = sum((line.amount for line in lines), Decimal(0))
    total = exact.quantize(INVOICE_QUANTUM, rounding=ROUND_HALF_UP)
    if total != exact:
        lines = [*lines, Line("rounding", "Rounding to the fen", Decimal(1), "", total - exact, total - exact)]
    return lines, total


def _uninvoiced(session: Session, institution_id: uuid.UUID, month: str) -> list[RatedItem]:
    leg = BillingRatedLeg
    stmt = select(
        leg.id, leg.channel, leg.direction, leg.rate_key, leg.unit_price, leg.billed_seconds, leg.price
    ).where(leg.institution_id == institution_id, leg.invoice_id.is_(None), leg.billing_month <= month)
    return [RatedItem(*row) for row in session.execute(stmt.order_by(leg.id).execution_options(yield_per=5000))]


def _detail(session: Session, invoice: BillingInvoice) -> InvoiceDetail:
    lines = session.scalars(
        select(BillingInvoiceLine)
        .where(BillingInvoiceLine.invoice_id == invoice.id)
        .order_by(BillingInvoiceLine.position)
    )
    return InvoiceDetail(
        **InvoiceRead.model_validate(invoice).model_dump(), lines=[InvoiceLineRead.model_validate(x) for x in lines]
    )


def issue_invoice(
    session: Session, *, actor: Principal, institution_id: uuid.UUID, month: str
) -> tuple[InvoiceDetail, bool]:
    """The institution's invoice for `month`: issued now if the month is over and none exists (True), else the
    one already issued (False). The session is the operator's."""
    service.require_operator(actor)
    _, last_day = parse_month(month)
    if not _month_over(last_day):
        raise InvalidInput.one("month", "is not over yet in the billing calendar (Asia/Shanghai)")
    institution = tenancy.get(session, tenant_id=institution_id)
    if institution.is_operator:
        raise NotFound("no such institution")
    with tenant(session, institution.id):
        existing = session.scalars(select(BillingInvoice).where(BillingInvoice.month == month)).one_or_none()
        if existing is not None:
            return _detail(session, existing), False
    tariff = service.in_force(service.tariffs_of_institution(session, institution_id=institution.id), last_day)
    legs = _uninvoiced(session, institution.id, month)
    fees = service.fees_of(tariff.monthly_fees) if tariff is not None else []
    lines, total = with_rounding(usage_lines(legs) + fee_lines(fees))
    invoice_id = new_id()
    for start in range(0, len(legs), _CHUNK):
        ids = [leg.id for leg in legs[start : start + _CHUNK]]
        # The ids read above, not the same criteria again: a leg rated meanwhile must not join unseen.
        stmt = update(BillingRatedLeg).where(BillingRatedLeg.id.in_(ids)).values(invoice_id=invoice_id)
        session.execute(stmt.execution_options(synchronize_session=False))
    details = {"institution_id": str(institution.id), "month": month, "legs": len(legs), "total": str(total)}
    audit.record(
        session,
        actor=actor,
        action="billing.invoice.issued",
        object_type="billing_invoice",
        object_id=invoice_id,
        details=details,
    )
    with tenant(session, institution.id):
        invoice = BillingInvoice(
            id=invoice_id,
            number=f"CV-{month.replace('-', '')}-{institution.slug}",
            month=month,
            currency=tariff.currency if tariff is not None else "CNY",
            total=total,
            legs=len(legs),
            issued_by=actor.actor,
        )
        session.add(invoice)
        for position, line in enumerate(lines, start=1):
            session.add(
                BillingInvoiceLine(
                    invoice_id=invoice_id,
                    position=position,
                    kind=line.kind,
                    description=line.description,
                    quantity=line.quantity,
                    unit=line.unit,
                    unit_price=line.unit_price,
                    amount=line.amount,
                )
            )
        session.flush()
        outbox.emit(
            session,
            tenant_slug=institution.slug,
            name="billing.invoice.issued",
            payload={"id": str(invoice_id), "month": month, "total": str(total)},
        )
        detail = _detail(session, invoice)
    session.commit()
    return detail, True


# --- the institution's view ------------------------------------------------------------------------------------


def list_invoices(
    session: Session, *, actor: Principal, limit: int, cursor: str | None, month: str | None = None
) -> Page[InvoiceRead]:
    """The institution's invoices, oldest first; `month` (YYYY-MM) keeps that month's only."""
    actor.require(service.READ)
    stmt = select(BillingInvoice)
    if month:
        parse_month(month)
        stmt = stmt.where(BillingInvoice.month == month)
    return paginate(
        session,
        stmt,
        id_column=BillingInvoice.id,
        limit=limit,
        cursor=cursor,
        to_read=InvoiceRead.model_validate,
    )


def get_invoice(session: Session, *, actor: Principal, invoice_id: uuid.UUID) -> InvoiceDetail:
    actor.require(service.READ)
    invoice = session.get(BillingInvoice, invoice_id)
    if invoice is None:
        raise NotFound("no such invoice")
    return _detail(session, invoice)


def record_download(session: Session, *, actor: Principal, invoice_id: uuid.UUID, fmt: str) -> None:
    """Downloads of an invoice document are audited (who took a copy, in which format)."""
    audit.record(
        session,
        actor=actor,
        action="billing.invoice.downloaded",
        object_type="billing_invoice",
        object_id=invoice_id,
        details={"format": fmt},
    )
    session.commit()


# --- cost and margin -------------------------------------------------------------------------------------------


def margin_by_campaign(
    session: Session, *, actor: Principal, month: str, institution_id: uuid.UUID | None = None
) -> list[CampaignMargin]:
    """Price, telecom cost and margin per institution and campaign for the legs of `month`, summed as Decimal.

    Legs whose trunk has no cost tariff are counted apart (their cost is unknown, not zero)."""
    service.require_operator(actor)
    parse_month(month)
    stmt = select(
        BillingRatedLeg.institution_id,
        BillingRatedLeg.campaign_id,
        BillingRatedLeg.billed_seconds,
        BillingRatedLeg.price,
        BillingRatedLeg.cost,
    ).where(BillingRatedLeg.billing_month == month)
    if institution_id is not None:
        stmt = stmt.where(BillingRatedLeg.institution_id == institution_id)
    totals: dict[tuple[uuid.UUID, uuid.UUID | None], list[Decimal]] = {}
    for inst, campaign, leg_seconds, price, cost in session.execute(stmt.execution_options(yield_per=5000)):
        acc = totals.setdefault((inst, campaign), [Decimal(0)] * 5)
        acc[0] += 1
        acc[1] += Decimal(leg_seconds)
        acc[2] += price
        if cost is None:
            acc[4] += 1
        else:
            acc[3] += cost
    out = []
    for (inst, campaign), (legs, billed, price, cost, missing) in totals.items():
        out.append(
            CampaignMargin(
                institution_id=inst,
                campaign_id=campaign,
                legs=int(legs),
                billed_minutes=(billed / Decimal(60)).quantize(LEG_QUANTUM, rounding=ROUND_HALF_UP),
                price=price,
                cost=cost,
                margin=price - cost,
                legs_without_cost=int(missing),
            )
        )
    return sorted(out, key=lambda m: (str(m.institution_id), str(m.campaign_id or "")))
