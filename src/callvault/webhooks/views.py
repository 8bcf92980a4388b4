"""Webhook endpoints: signing secrets of API clients, the dead-letter list and manual redelivery."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, status

from callvault.api import Cursor, Limit, RequestContext, Requires, domain_router
from callvault.core.schemas import Page
from callvault.webhooks import service
from callvault.webhooks.schemas import DeliveryRead, WebhookSecretCreate, WebhookSecretCreated

router = domain_router("/webhooks", "webhooks")

Manager = Annotated[RequestContext, Depends(Requires(service.MANAGE))]
# The secret is in the response: never stored for idempotent replays.
SecretMaker = Annotated[RequestContext, Depends(Requires(service.MANAGE, store_responses=False))]


@router.post(
    "/secrets",
    response_model=WebhookSecretCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Create or replace an API client's webhook signing secret (shown once)",
)
def rotate_secret(data: WebhookSecretCreate, ctx: SecretMaker) -> WebhookSecretCreated:
    return service.rotate_secret(ctx.session, actor=ctx.principal, api_client_id=data.api_client_id)


@router.get("/dead-letters", response_model=Page[DeliveryRead], summary="Deliveries that failed every attempt")
def dead_letters(ctx: Manager, limit: Limit = 50, cursor: Cursor = None) -> Page[DeliveryRead]:
    return service.list_dead_letters(ctx.session, actor=ctx.principal, limit=limit, cursor=cursor)


@router.get("/deliveries/{delivery_id}", response_model=DeliveryRead, summary="One delivery and its state")
def get_delivery(delivery_id: uuid.UUID, ctx: Manager) -> DeliveryRead:
    return service.get_delivery(ctx.session, actor=ctx.principal, delivery_id=delivery_id)


@router.post(
    "/deliveries/{delivery_id}/redeliver",
    response_model=DeliveryRead,
    summary="Send a dead-lettered delivery again (same webhook-id, a fresh round of attempts)",
)
def redeliver(delivery_id: uuid.UUID, ctx: Manager) -> DeliveryRead:
    return service.redeliver(ctx.session, actor=ctx.principal, delivery_id=delivery_id)
