"""Shared API schema pieces: strict input models and cursor pages."""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, field_validator

from callvault.core.errors import InvalidInput

T = TypeVar("T")


def _check_text(value: Any) -> None:
    """NUL characters and lone surrogates cannot be stored (PostgreSQL refuses them): reject them as input."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("must be valid Unicode text") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key)
            _check_text(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_text(item)


class StrictInput(BaseModel):
    """Request bodies reject unknown fields (a strict message specification, as institutions' IT expect)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        _check_text(value)
        return value


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
