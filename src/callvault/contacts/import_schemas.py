"""API shapes of import jobs."""

from __future__ import annotations

import uuid
from datetime import datetime

from callvault.core.schemas import ReadModel


class ImportRead(ReadModel):
    """An import job's state: `total == accepted + rejected + duplicates` once it is finished."""

    id: uuid.UUID
    list_id: uuid.UUID
    file_name: str
    format: str
    purpose: str
    status: str
    total: int
    accepted: int
    rejected: int
    duplicates: int
    error: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
