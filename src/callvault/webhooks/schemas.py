"""API shapes of webhook secrets and deliveries."""

from __future__ import annotations

import uuid
from datetime import datetime

from callvault.core.schemas import ReadModel, StrictInput


class WebhookSecretCreate(StrictInput):
    api_client_id: uuid.UUID


class WebhookSecretCreated(ReadModel):
    api_client_id: uuid.UUID
    created_at: datetime
    secret: str  # shown this once; stored sealed


class DeliveryRead(ReadModel):
    id: uuid.UUID
    webhook_id: str
    api_client_id: uuid.UUID
    event_type: str
    url: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str
    delivered_at: datetime | None
    dead_at: datetime | None
    created_at: datetime
