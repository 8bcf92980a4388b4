"""API shapes of SIP trunks, DIDs and agent SIP endpoints."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Annotated

from pydantic import Field, model_validator

from callvault.core.schemas import ReadModel, StrictInput

E164 = Annotated[str, Field(pattern=r"^\+[1-9][0-9]{1,14}$", description="E.164 number, e.g. +861095588")]
# What a caller ID may present: E.164 or a national service number (e.g. 95588).
CallerId = Annotated[str, Field(pattern=r"^\+?[0-9]{3,15}$")]
# Names that travel in SIP headers and Request-URIs: no characters that would need escaping there.
SipName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]
EntryName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")]
Host = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9.-]{0,254}$", description="IP address or host name")]


class TrunkDirection(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class CallerIdRule(enum.StrEnum):
    KEEP = "keep"  # present what the engine asked for
    FIXED = "fixed"  # always present the trunk's caller_id


class EntryKind(enum.StrEnum):
    IVR = "ivr"
    QUEUE = "queue"


class TrunkCreate(StrictInput):
    name: SipName
    direction: TrunkDirection
    peer_host: Host
    peer_port: int = Field(default=5060, ge=1, le=65535)
    caller_id_rule: CallerIdRule = CallerIdRule.KEEP
    caller_id: CallerId | None = None

    @model_validator(mode="after")
    def _fixed_needs_number(self) -> TrunkCreate:
        if self.caller_id_rule is CallerIdRule.FIXED and not self.caller_id:
            raise ValueError("caller_id is required when caller_id_rule is fixed")
        return self


class TrunkRead(ReadModel):
    id: uuid.UUID
    name: str
    direction: TrunkDirection
    peer_host: str
    peer_port: int
    caller_id_rule: CallerIdRule
    caller_id: str
    created_at: datetime


class DidAssign(StrictInput):
    number: E164
    institution_id: uuid.UUID
    entry_kind: EntryKind
    entry: EntryName


class DidEntryUpdate(StrictInput):
    """Where a DID's calls go; omitted fields stay as they are."""

    entry_kind: EntryKind | None = None
    entry: EntryName | None = None


class DidRead(ReadModel):
    """A number of the inventory; ``institution_id`` and the entry point are null while it is unassigned."""

    id: uuid.UUID
    number: str
    institution_id: uuid.UUID | None
    entry_kind: EntryKind | None
    entry: str | None
    created_at: datetime


class EndpointCreate(StrictInput):
    username: SipName
    user_id: uuid.UUID | None = None


class EndpointRead(ReadModel):
    id: uuid.UUID
    username: str
    user_id: uuid.UUID | None
    enabled: bool
    realm: str
    created_at: datetime


class EndpointCredentials(EndpointRead):
    password: str  # shown this once; only its HA1 is stored, sealed
