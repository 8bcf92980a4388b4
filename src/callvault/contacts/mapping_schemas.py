"""API shapes of saved mapping templates."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import Field

from callvault.core.schemas import ReadModel, StrictInput

TEMPLATE_EXAMPLE = {"name": "客户姓名", "phones": ["手机号码", "联系电话"], "id_number": "证件号码"}


class MappingTemplateCreate(StrictInput):
    name: str = Field(min_length=1, max_length=120, description="unique within the institution")
    description: str = Field(default="", max_length=500)
    mapping: dict[str, Any] = Field(description="a column mapping template", examples=[TEMPLATE_EXAMPLE])


class MappingTemplateUpdate(StrictInput):
    """Fields to change; absent fields stay."""

    name: str | None = Field(default=None, min_length=1, max_length=120)
    description: str | None = Field(default=None, max_length=500)
    mapping: dict[str, Any] | None = None


class MappingTemplateRead(ReadModel):
    id: uuid.UUID
    name: str
    description: str
    mapping: dict[str, Any]
    created_by: str
    created_at: datetime
    updated_at: datetime | None
