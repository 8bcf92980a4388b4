"""API shapes of the trigger API: the strict order of one call, and its status and result."""

from __future__ import annotations

import enum
import math
import uuid
from datetime import datetime, timedelta
from typing import Annotated, Final
from urllib.parse import urlsplit

from pydantic import (
    AwareDatetime,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)

from callvault.core import clock
from callvault.core.schemas import ReadModel, StrictInput
from callvault.dnc.policy import Purpose

VARIABLE_NAME: Final = r"^[a-z][a-z0-9_]{0,39}$"
# Set by the platform for the flow, or the flow's verdict: an institution cannot preset them.
RESERVED_VARIABLES: Final = frozenset({"caller", "dialled", "result"})
MAX_VARIABLES: Final = 20
MAX_VARIABLE_TEXT: Final = 200
MAX_VARIABLES_BYTES: Final = 4096
MAX_DEADLINE: Final = timedelta(days=7)
NAME: Final = r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,79}$"

VariableValue = Annotated[StrictStr, Field(max_length=MAX_VARIABLE_TEXT)] | StrictInt | StrictFloat | StrictBool | None


class CallStatus(enum.StrEnum):
    ACCEPTED = "accepted"  # waiting for a line
    DIALLING = "dialling"  # a worker holds it: dialling or in the call
    COMPLETED = "completed"  # result known (see `CallResult`)
    REFUSED = "refused"  # not dialled: do-not-call or missing consent


class CallResult(enum.StrEnum):
    REACHED = "reached"  # answered; the flow ran (or the call went to the queue) without a verdict
    VERIFIED = "verified"  # the callee confirmed (the flow set result=verified)
    REFUSED = "refused"  # the callee declined (result=refused), or the number may not be called
    NOT_REACHED = "not_reached"  # busy, no answer, rejected
    FAILED = "failed"  # deadline passed, the line failed, the flow or queue was gone


class TriggerCreate(StrictInput):
    """One call: to ``phone`` or the primary number of ``contact_id``; runs the published IVR ``flow`` or goes to
    ``queue``; must be placed before ``deadline``; its result is POSTed to ``callback_url``."""

    purpose: Purpose
    phone: str | None = Field(default=None, min_length=3, max_length=40)
    contact_id: uuid.UUID | None = None
    flow: str | None = Field(default=None, pattern=NAME)
    queue: str | None = Field(default=None, pattern=NAME)
    variables: dict[Annotated[str, Field(pattern=VARIABLE_NAME)], VariableValue] = Field(
        default_factory=dict, max_length=MAX_VARIABLES
    )
    deadline: AwareDatetime
    callback_url: str = Field(max_length=2000)
    reference: str = Field(default="", max_length=64, pattern=r"^[A-Za-z0-9._:/-]*$")

    @field_validator("callback_url")
    @classmethod
    def _https_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError("must be an https:// URL")
        if parts.username or parts.password or parts.fragment:
            raise ValueError("must not contain credentials or a fragment")
        if any(c.isspace() or ord(c) < 32 for c in value):
            raise ValueError("must not contain spaces or control characters")
        return value

    @field_validator("variables")
    @classmethod
    def _bounded(cls, value: dict[str, object]) -> dict[str, object]:
        reserved = sorted(RESERVED_VARIABLES & set(value))
        if reserved:
            raise ValueError(f"reserved names: {', '.join(reserved)}")
        if any(isinstance(v, float) and not math.isfinite(v) for v in value.values()):
            raise ValueError("numbers must be finite")
        if sum(len(k) + len(str(v)) for k, v in value.items()) > MAX_VARIABLES_BYTES:
            raise ValueError(f"at most {MAX_VARIABLES_BYTES} characters in all")
        return value

    @field_validator("deadline")
    @classmethod
    def _ahead(cls, value: datetime) -> datetime:
        now = clock.now()
        if value <= now:
            raise ValueError("must be in the future")
        if value > now + MAX_DEADLINE:
            raise ValueError("must be within 7 days")
        return value

    @model_validator(mode="after")
    def _one_each(self) -> TriggerCreate:
        if (self.phone is None) == (self.contact_id is None):
            raise ValueError("give exactly one of 'phone' and 'contact_id'")
        if (self.flow is None) == (self.queue is None):
            raise ValueError("give exactly one of 'flow' and 'queue'")
        return self


class CallRequestRead(ReadModel):
    id: uuid.UUID
    status: CallStatus
    result: CallResult | None
    reason: str
    purpose: Purpose
    reference: str
    phone_masked: str
    flow: str | None
    queue: str | None
    deadline: datetime
    keypresses: list[str]
    created_at: datetime
    dialled_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None
    completed_at: datetime | None
    interaction_id: uuid.UUID | None = None  # the call record of the placed call
