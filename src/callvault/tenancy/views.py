"""Institution endpoints (operator staff only)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, status

from callvault.api import Cursor, Limit, RequestContext, Requires, domain_router
from callvault.core.errors import NotFound
from callvault.core.schemas import Page
from callvault.tenancy import service
from callvault.tenancy.schemas import TenantCreate, TenantRead, TenantUpdate

router = domain_router("/tenants", "institutions")

CanRead = Annotated[RequestContext, Depends(Requires("tenant.read"))]
CanManage = Annotated[RequestContext, Depends(Requires("tenant.manage"))]


@router.get("", response_model=Page[TenantRead], summary="List institutions")
def list_tenants(ctx: CanRead, limit: Limit = 50, cursor: Cursor = None) -> Page[TenantRead]:
    return service.list_tenants(ctx.session, limit=limit, cursor=cursor)


@router.post("", response_model=TenantRead, status_code=status.HTTP_201_CREATED, summary="Create an institution")
def create_tenant(data: TenantCreate, ctx: CanManage) -> TenantRead:
    return service.create_tenant(ctx.session, actor=ctx.principal, data=data)


@router.get("/{tenant_id}", response_model=TenantRead, summary="Get an institution")
def get_tenant(tenant_id: uuid.UUID, ctx: CanRead) -> TenantRead:
    found = service.get(ctx.session, tenant_id=tenant_id)
    if found.is_operator:
        raise NotFound("no such institution")
    return TenantRead.model_validate(found)


@router.patch("/{tenant_id}", response_model=TenantRead, summary="Rename, suspend or reconfigure an institution")
def update_tenant(tenant_id: uuid.UUID, data: TenantUpdate, ctx: CanManage) -> TenantRead:
    return service.update_tenant(ctx.session, actor=ctx.principal, tenant_id=tenant_id, data=data)
