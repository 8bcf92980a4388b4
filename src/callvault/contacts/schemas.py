"""API shapes for contact lists and contacts. Sensitive fields are masked unless explicitly revealed."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from callvault.core.schemas import ReadModel, StrictInput
from callvault.dnc.policy import Purpose
from callvault.security.masking import DataClass
from callvault.security.redaction import redact_text


class CustomField(StrictInput):
    """A list's extra column; `sensitive` ones are encrypted, `data_class` picks their masking rule."""

    name: str = Field(min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_]*$")
    label: str = Field(default="", max_length=80)
    sensitive: bool = False
    data_class: DataClass | None = None


class ContactListCreate(StrictInput):
    name: str = Field(min_length=1, max_length=120)
    description: str = Field(default="", max_length=500)
    purpose: Purpose = Field(
        default=Purpose.MARKETING, description="what the list is called for; decides which DNC entries apply"
    )
    custom_fields: list[CustomField] = Field(default_factory=list, max_length=50)


class ContactListRead(ReadModel):
    id: uuid.UUID
    name: str
    description: str
    purpose: Purpose
    custom_fields: list[CustomField]
    created_at: datetime


class PhoneRead(BaseModel):
    position: int
    number: str = Field(description="masked (138****8000) unless revealed")
    type: str
    region: str
    timezone: str


class ContactRead(BaseModel):
    """A contact as shown to its viewer: `revealed` names the fields shown unmasked."""

    id: uuid.UUID
    list_id: uuid.UUID
    created_at: datetime
    external_ref: str | None
    name: str
    id_number: str
    card_number: str
    phones: list[PhoneRead]
    custom: dict[str, str] = Field(description="all custom fields; sensitive ones masked unless revealed")
    revealed: list[str] = Field(default_factory=list)


RevealField = Literal["name", "id_number", "card_number", "custom", "phones"]


class RevealReason(StrEnum):
    """Why a user looks at unmasked values (kept in the audit record; free text could itself hold personal data)."""

    CUSTOMER_REQUEST = "customer_request"
    IDENTITY_VERIFICATION = "identity_verification"
    COMPLAINT = "complaint"
    FRAUD_INVESTIGATION = "fraud_investigation"
    LEGAL_REQUEST = "legal_request"
    DATA_CORRECTION = "data_correction"


class RevealRequest(StrictInput):
    fields: list[RevealField] = Field(min_length=1, max_length=5)
    reason: RevealReason
    ticket: str | None = Field(
        default=None, max_length=64, pattern=r"^[A-Za-z][A-Za-z0-9._:/-]*$", description="case or ticket reference"
    )

    @field_validator("ticket")
    @classmethod
    def _no_personal_data(cls, value: str | None) -> str | None:
        # The ticket goes into the audit trail, which must never hold a phone, ID or card number.
        if value is not None and redact_text(value) != value:
            raise ValueError("must be a case reference, not a phone, ID or card number")
        return value
