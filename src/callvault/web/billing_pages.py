"""Console pages of billing: an institution's invoices by month with their CSV and PDF documents, and the
operator's cost and margin report per institution and campaign.

Document downloads go through the same functions as the API and are audited the same way
(`billing.invoice.downloaded`, with the format). The margin report is the operator's only (`tenant.manage` in the
operator tenant), as in the API.
"""

from __future__ import annotations

import re
import uuid
from decimal import Decimal
from typing import Annotated, Final

from fastapi.responses import Response

from callvault.billing import documents, invoicing
from callvault.billing import service as billing
from callvault.billing.schemas import InvoiceDetail
from callvault.core import clock
from callvault.core.errors import FieldError, InvalidInput
from callvault.tenancy import service as tenancy
from callvault.web.console import NO_STORE, Console, allowed, console_router, object_id

router = console_router()
PAGE_SIZE: Final = 50
MONTH: Final = re.compile(r"^\d{4}-\d{2}$")


def _month(raw: str, errors: list[FieldError]) -> str | None:
    raw = raw.strip()[:7]
    if not raw:
        return None
    if MONTH.match(raw) is None:
        errors.append(FieldError("month", "must be YYYY-MM, e.g. 2026-11"))
        return None
    return raw


@router.get("/invoices")
def invoices_page(
    console: Annotated[Console, allowed(billing.READ)], month: str = "", cursor: str | None = None
) -> Response:
    errors: list[FieldError] = []
    wanted = _month(month, errors)
    items = []
    next_cursor = None
    if not errors:
        try:
            page = invoicing.list_invoices(
                console.session, actor=console.principal, limit=PAGE_SIZE, cursor=cursor, month=wanted
            )
            items, next_cursor = page.items, page.next_cursor
        except InvalidInput as exc:
            errors = exc.errors
    return console.render(
        "invoices.html",
        status=422 if errors else 200,
        invoices=sorted(items, key=lambda i: i.month, reverse=True),
        next_cursor=next_cursor,
        month=month[:7],
        errors=errors,
    )


@router.get("/invoices/{invoice_id}")
def invoice_page(invoice_id: str, console: Annotated[Console, allowed(billing.READ)]) -> Response:
    invoice = invoicing.get_invoice(console.session, actor=console.principal, invoice_id=object_id(invoice_id))
    return console.render("invoice.html", invoice=invoice)


def _institution_name(console: Console) -> str:
    return tenancy.current(console.session).name


@router.get("/invoices/{invoice_id}/csv")
def invoice_csv(invoice_id: str, console: Annotated[Console, allowed(billing.READ)]) -> Response:
    invoice = _audited_download(console, invoice_id, "csv")
    body = documents.invoice_csv(invoice, _institution_name(console))
    return _attachment(body, "text/csv; charset=utf-8", f"{invoice.number}.csv")


@router.get("/invoices/{invoice_id}/pdf")
def invoice_pdf(invoice_id: str, console: Annotated[Console, allowed(billing.READ)]) -> Response:
    invoice = _audited_download(console, invoice_id, "pdf")
    operator = tenancy.get_by_slug(console.session, slug=tenancy.OPERATOR_SLUG)
    body = documents.invoice_pdf(invoice, _institution_name(console), operator.name if operator else "Operator")
    return _attachment(body, "application/pdf", f"{invoice.number}.pdf")


def _audited_download(console: Console, invoice_id: str, fmt: str) -> InvoiceDetail:
    iid = object_id(invoice_id)
    invoice = invoicing.get_invoice(console.session, actor=console.principal, invoice_id=iid)
    invoicing.record_download(console.session, actor=console.principal, invoice_id=iid, fmt=fmt)
    return invoice


def _attachment(body: bytes, media_type: str, name: str) -> Response:
    headers = {**NO_STORE, "Content-Disposition": f'attachment; filename="{name}"'}
    return Response(body, media_type=media_type, headers=headers)


# --- the operator's margin report ------------------------------------------------------------------------------


@router.get("/margin")
def margin_page(console: Annotated[Console, allowed(billing.MANAGE)], month: str = "") -> Response:
    billing.require_operator(console.principal)
    errors: list[FieldError] = []
    wanted = _month(month, errors) or f"{clock.now():%Y-%m}"
    rows = [] if errors else invoicing.margin_by_campaign(console.session, actor=console.principal, month=wanted)
    names = _institution_names(console, {r.institution_id for r in rows})
    totals = {
        "legs": sum(r.legs for r in rows),
        "billed_minutes": sum((r.billed_minutes for r in rows), start=Decimal(0)),
        "price": sum((r.price for r in rows), start=Decimal(0)),
        "cost": sum((r.cost for r in rows), start=Decimal(0)),
        "margin": sum((r.margin for r in rows), start=Decimal(0)),
        "legs_without_cost": sum(r.legs_without_cost for r in rows),
    }
    return console.render(
        "margin.html",
        status=422 if errors else 200,
        rows=rows,
        names=names,
        totals=totals,
        month=month[:7] if errors else wanted,
        errors=errors,
    )


def _institution_names(console: Console, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    return {tid: tenancy.get(console.session, tenant_id=tid).slug for tid in ids}
