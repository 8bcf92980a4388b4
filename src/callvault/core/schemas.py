"""Shared API schema pieces: strict input models and cursor pages."""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from callvault.core.errors import InvalidInput

T = TypeVar("T")


class StrictInput(BaseModel):
    """Request bodies reject unknown fields (a strict message specification, as institutions' IT expect)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ReadModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(last_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(last_id.bytes).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> uuid.UUID | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return uuid.UUID(bytes=raw)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput.one("cursor", "is not a cursor returned by this API") from exc
