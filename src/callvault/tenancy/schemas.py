"""API shapes for institutions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field

from callvault.core.schemas import ReadModel, StrictInput

Slug = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,39}$", description="lower-case, immutable")]


class InitialAdmin(StrictInput):
    username: str = Field(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    display_name: str = Field(default="", max_length=120)
    password: str = Field(min_length=1, max_length=256)


class TenantCreate(StrictInput):
    slug: Slug
    name: str = Field(min_length=1, max_length=200)
    settings: dict[str, Any] = Field(default_factory=dict)
    initial_admin: InitialAdmin | None = None


class TenantUpdate(StrictInput):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    status: Literal["active", "suspended"] | None = None
    settings: dict[str, Any] | None = None


class TenantRead(ReadModel):
    id: uuid.UUID
    slug: str
    name: str
    kind: str
    status: str
    settings: dict[str, Any]
    created_at: datetime
