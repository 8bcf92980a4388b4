"""API shapes of IVR flows and their versions (the flow document itself is `flow.FlowDocument`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import Field

from callvault.core.schemas import ReadModel, StrictInput


class FlowCreate(StrictInput):
    name: str = Field(min_length=1, max_length=80)
    entry_point: str = Field(
        min_length=1, max_length=80, pattern=r"^[A-Za-z0-9+_.-]+$", description="DID label calls arrive with"
    )
    description: str = Field(default="", max_length=300)


class FlowRead(ReadModel):
    id: uuid.UUID
    name: str
    entry_point: str
    description: str
    created_at: datetime
    published_number: int | None = None
    draft_number: int | None = None


class VersionSummary(ReadModel):
    id: uuid.UUID
    flow_id: uuid.UUID
    number: int
    status: str
    author: str
    created_at: datetime
    published_by: str | None
    published_at: datetime | None
    rolled_back_from: int | None


class VersionRead(VersionSummary):
    document: dict[str, Any]


class LookupKeyRead(ReadModel):
    """The institution's look-up signing key; the secret is shown only once, when the key is made."""

    key_id: str | None = None
    created_at: datetime | None = None


class LookupKeyCreated(LookupKeyRead):
    secret: str
