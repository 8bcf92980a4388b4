"""Billing endpoints: the operator keeps tariffs and trunk costs and reads margins; institutions read invoices."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Query, Response, status

from callvault.api import Cursor, Limit, RequestContext, Requires, domain_router
from callvault.billing import documents, invoicing, service
from callvault.billing.schemas import (
    CampaignMargin,
    InvoiceDetail,
    InvoiceRead,
    TariffCreate,
    TariffRead,
    TariffUpdate,
    TrunkCostCreate,
    TrunkCostRead,
)
from callvault.core.schemas import Page
from callvault.tenancy import service as tenancy

router = domain_router("/billing", "billing")

PriceKeeper = Annotated[RequestContext, Depends(Requires(service.MANAGE))]
InvoiceReader = Annotated[RequestContext, Depends(Requires(service.READ))]


@router.get("/tariffs", response_model=Page[TariffRead], summary="List institutions' tariffs")
def list_tariffs(
    ctx: PriceKeeper,
    limit: Limit = 50,
    cursor: Cursor = None,
    institution_id: Annotated[uuid.UUID | None, Query(description="only this institution's tariffs")] = None,
) -> Page[TariffRead]:
    return service.list_tariffs(
        ctx.session, actor=ctx.principal, limit=limit, cursor=cursor, institution_id=institution_id
    )


@router.post("/tariffs", response_model=TariffRead, status_code=status.HTTP_201_CREATED, summary="Add a tariff")
def create_tariff(data: TariffCreate, ctx: PriceKeeper) -> TariffRead:
    return service.create_tariff(ctx.session, actor=ctx.principal, data=data)


@router.get("/tariffs/{tariff_id}", response_model=TariffRead, summary="Get a tariff")
def get_tariff(tariff_id: uuid.UUID, ctx: PriceKeeper) -> TariffRead:
    return service.get_tariff(ctx.session, actor=ctx.principal, tariff_id=tariff_id)


@router.put("/tariffs/{tariff_id}", response_model=TariffRead, summary="Replace a tariff's prices")
def update_tariff(tariff_id: uuid.UUID, data: TariffUpdate, ctx: PriceKeeper) -> TariffRead:
    return service.update_tariff(ctx.session, actor=ctx.principal, tariff_id=tariff_id, data=data)


@router.delete("/tariffs/{tariff_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a tariff")
def delete_tariff(tariff_id: uuid.UUID, ctx: PriceKeeper) -> Response:
    service.delete_tariff(ctx.session, actor=ctx.principal, tariff_id=tariff_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/trunk-costs", response_model=Page[TrunkCostRead], summary="List trunks' telecom costs")
def list_trunk_costs(ctx: PriceKeeper, limit: Limit = 50, cursor: Cursor = None) -> Page[TrunkCostRead]:
    return service.list_trunk_costs(ctx.session, actor=ctx.principal, limit=limit, cursor=cursor)


@router.post(
    "/trunk-costs", response_model=TrunkCostRead, status_code=status.HTTP_201_CREATED, summary="Add a trunk cost"
)
def create_trunk_cost(data: TrunkCostCreate, ctx: PriceKeeper) -> TrunkCostRead:
    return service.create_trunk_cost(ctx.session, actor=ctx.principal, data=data)


@router.get("/trunk-costs/{trunk_cost_id}", response_model=TrunkCostRead, summary="Get a trunk cost")
def get_trunk_cost(trunk_cost_id: uuid.UUID, ctx: PriceKeeper) -> TrunkCostRead:
    return service.get_trunk_cost(ctx.session, actor=ctx.principal, trunk_cost_id=trunk_cost_id)


@router.delete("/trunk-costs/{trunk_cost_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a trunk cost")
def delete_trunk_cost(trunk_cost_id: uuid.UUID, ctx: PriceKeeper) -> Response:
    service.delete_trunk_cost(ctx.session, actor=ctx.principal, trunk_cost_id=trunk_cost_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/margin", response_model=list[CampaignMargin], summary="Cost and margin per campaign for a month")
def margin(
    ctx: PriceKeeper,
    month: Annotated[str, Query(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM")],
    institution_id: Annotated[uuid.UUID | None, Query()] = None,
) -> list[CampaignMargin]:
    return invoicing.margin_by_campaign(ctx.session, actor=ctx.principal, month=month, institution_id=institution_id)


@router.get("/invoices", response_model=Page[InvoiceRead], summary="List the institution's invoices")
def list_invoices(
    ctx: InvoiceReader,
    limit: Limit = 50,
    cursor: Cursor = None,
    month: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$", description="only this month's (YYYY-MM)")] = None,
) -> Page[InvoiceRead]:
    return invoicing.list_invoices(ctx.session, actor=ctx.principal, limit=limit, cursor=cursor, month=month)


@router.get("/invoices/{invoice_id}", response_model=InvoiceDetail, summary="Get an invoice with its lines")
def get_invoice(invoice_id: uuid.UUID, ctx: InvoiceReader) -> InvoiceDetail:
    return invoicing.get_invoice(ctx.session, actor=ctx.principal, invoice_id=invoice_id)


def _names(ctx: RequestContext) -> tuple[str, str]:
    operator = tenancy.get_by_slug(ctx.session, slug=tenancy.OPERATOR_SLUG)
    return tenancy.current(ctx.session).name, operator.name if operator is not None else "Operator"


@router.get("/invoices/{invoice_id}/csv", summary="Download an invoice as CSV (audited)")
def download_csv(invoice_id: uuid.UUID, ctx: InvoiceReader) -> Response:
    invoice = invoicing.get_invoice(ctx.session, actor=ctx.principal, invoice_id=invoice_id)
    body = documents.invoice_csv(invoice, _names(ctx)[0])
    invoicing.record_download(ctx.session, actor=ctx.principal, invoice_id=invoice_id, fmt="csv")
    return _attachment(body, "text/csv; charset=utf-8", f"{invoice.number}.csv")


@router.get("/invoices/{invoice_id}/pdf", summary="Download an invoice as PDF (audited)")
def download_pdf(invoice_id: uuid.UUID, ctx: InvoiceReader) -> Response:
    invoice = invoicing.get_invoice(ctx.session, actor=ctx.principal, invoice_id=invoice_id)
    body = documents.invoice_pdf(invoice, *_names(ctx))
    invoicing.record_download(ctx.session, actor=ctx.principal, invoice_id=invoice_id, fmt="pdf")
    return _attachment(body, "application/pdf", f"{invoice.number}.pdf")


def _attachment(body: bytes, media_type: str, name: str) -> Response:
    return Response(body, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{name}"'})
