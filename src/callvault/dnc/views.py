"""Do-not-call and consent endpoints. Numbers are accepted in full and always returned masked."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Query, Response, status

from callvault.api import Cursor, Limit, RequestContext, Requires, domain_router
from callvault.core.schemas import Page
from callvault.dnc import service
from callvault.dnc.schemas import ConsentCreate, ConsentRead, DncCreate, DncRead

router = domain_router("", "do not call")

DncReader = Annotated[RequestContext, Depends(Requires(service.READ))]
DncManager = Annotated[RequestContext, Depends(Requires(service.MANAGE))]


@router.get("/dnc", response_model=Page[DncRead], summary="List do-not-call entries (global list for the operator)")
def list_dnc(
    ctx: DncReader,
    limit: Limit = 50,
    cursor: Cursor = None,
    phone: Annotated[str | None, Query(max_length=40, description="only entries for this number")] = None,
) -> Page[DncRead]:
    return service.list_entries(ctx.session, actor=ctx.principal, limit=limit, cursor=cursor, phone=phone)


@router.post("/dnc", response_model=DncRead, status_code=status.HTTP_201_CREATED, summary="Add a do-not-call entry")
def add_dnc(data: DncCreate, ctx: DncManager) -> DncRead:
    return service.add_entry(ctx.session, actor=ctx.principal, data=data)


@router.delete("/dnc/{entry_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Remove a do-not-call entry")
def remove_dnc(entry_id: uuid.UUID, ctx: DncManager) -> Response:
    service.remove_entry(ctx.session, actor=ctx.principal, entry_id=entry_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/consents", response_model=ConsentRead, status_code=status.HTTP_201_CREATED, summary="Record a consent")
def record_consent(data: ConsentCreate, ctx: DncManager) -> ConsentRead:
    return service.record_consent(ctx.session, actor=ctx.principal, data=data)


@router.post("/consents/{consent_id}/withdraw", response_model=ConsentRead, summary="Withdraw a consent")
def withdraw_consent(consent_id: uuid.UUID, ctx: DncManager) -> ConsentRead:
    return service.withdraw_consent(ctx.session, actor=ctx.principal, consent_id=consent_id)
