"""API clients of an institution's IT (HMAC keys)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, status

from callvault.api import Cursor, Limit, RequestContext, Requires, domain_router
from callvault.core.schemas import Page
from callvault.identity import api_clients
from callvault.identity.schemas import ApiClientCreate, ApiClientCreated, ApiClientRead

router = domain_router("/api-clients", "API clients")

Reader = Annotated[RequestContext, Depends(Requires("apiclient.read"))]
Manager = Annotated[RequestContext, Depends(Requires("apiclient.manage"))]
# The response shows the new client's secret once: it is never kept as an idempotent replay.
SecretMaker = Annotated[RequestContext, Depends(Requires("apiclient.manage", store_responses=False))]


@router.get("", response_model=Page[ApiClientRead], summary="List API clients")
def list_clients(ctx: Reader, limit: Limit = 50, cursor: Cursor = None) -> Page[ApiClientRead]:
    return api_clients.list_clients(ctx.session, limit=limit, cursor=cursor)


@router.post(
    "",
    response_model=ApiClientCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Create an API client; the secret is shown once",
)
def create_client(data: ApiClientCreate, ctx: SecretMaker) -> ApiClientCreated:
    return api_clients.create_client(ctx.session, actor=ctx.principal, data=data)


@router.get("/{client_id}", response_model=ApiClientRead, summary="Get an API client")
def get_client(client_id: uuid.UUID, ctx: Reader) -> ApiClientRead:
    return api_clients.api_client_read(api_clients.get_client(ctx.session, client_id=client_id))


@router.post("/{client_id}/revoke", response_model=ApiClientRead, summary="Revoke an API client")
def revoke_client(client_id: uuid.UUID, ctx: Manager) -> ApiClientRead:
    return api_clients.revoke_client(ctx.session, actor=ctx.principal, client_id=client_id)
