"""Where legs to rate come from: any iterable of records (call-record rows, an NDJSON file) becomes `RatingLeg`s.

Call records (`interactions` / `interaction_legs`) are another domain; this adapter is the one place that knows
their field names, so wiring rating to them is one function. A record that cannot be read is reported with its
position and reason and is not rated; the record itself stays where it is, so a corrected rerun rates it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from callvault.billing.rating import Channel, Direction, RatingLeg


class LegRecord(BaseModel):
    """A leg as call records describe it; unknown fields are ignored (records carry much more)."""

    model_config = ConfigDict(extra="ignore")

    leg_id: uuid.UUID
    tenant_id: uuid.UUID
    direction: Direction = Direction.OUTBOUND
    destination: str = Field(default="", max_length=40, description="E.164 number or prefix")
    number_type: str = Field(default="", max_length=24)
    trunk: str = Field(default="", max_length=64)
    answered_at: AwareDatetime | None = None
    ended_at: AwareDatetime | None = None
    campaign_id: uuid.UUID | None = None
    channel: Channel = Channel.VOICE

    def to_leg(self) -> RatingLeg:
        return RatingLeg(
            leg_id=self.leg_id,
            tenant_id=self.tenant_id,
            direction=self.direction,
            destination=self.destination,
            number_type=self.number_type,
            trunk=self.trunk,
            answered_at=self.answered_at,
            ended_at=self.ended_at,
            campaign_id=self.campaign_id,
            channel=self.channel,
        )


@dataclass(frozen=True)
class BadRecord:
    position: int
    reason: str


Numbered = Iterable[tuple[int, Mapping[str, Any] | BadRecord]]


def numbered(records: Iterable[Mapping[str, Any]]) -> Numbered:
    """Records of any iterable (e.g. rows of call records) with their position, counted from 1."""
    return enumerate(records, start=1)


# Call records type a destination finer than tariffs do (the contacts' `PhoneType`); tariffs price all
# toll-free numbers alike and name service codes (95588) short codes.
_TARIFF_TYPE_OF: dict[str, str] = {
    "toll_free_400": "toll_free",
    "toll_free_800": "toll_free",
    "service_short_code": "short_code",
}


def tariff_number_type(destination_type: str) -> str:
    """The tariff's number type of a call record's destination type (unchanged where both name it alike)."""
    return _TARIFF_TYPE_OF.get(destination_type, destination_type)


def interaction_leg_record(leg: Any) -> dict[str, Any]:
    """A leg of the call records (`interactions.models.InteractionLeg`) as a record: tariffs key on the
    destination's prefix and type, so the number itself is never read. Call legs are voice."""
    return {
        "leg_id": leg.id,
        "tenant_id": leg.tenant_id,
        "direction": leg.direction,
        "destination": leg.destination_prefix,
        "number_type": tariff_number_type(leg.destination_type or ""),
        "trunk": leg.trunk,
        "answered_at": leg.answered_at,
        "ended_at": leg.ended_at,
        "campaign_id": leg.campaign_id,
        "channel": Channel.VOICE.value,
    }


def legs_from_records(records: Numbered, on_error: Callable[[BadRecord], None]) -> Iterator[RatingLeg]:
    """Each readable record as a leg; each unreadable one handed to `on_error` with its position."""
    for position, record in records:
        if isinstance(record, BadRecord):
            on_error(record)
            continue
        try:
            yield LegRecord.model_validate(record).to_leg()
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ())) or "record"
            on_error(BadRecord(position, f"{where}: {first.get('msg', 'invalid')}"))


def ndjson_records(path: Path) -> Iterator[tuple[int, Mapping[str, Any] | BadRecord]]:
    """One JSON object per line, streamed (constant memory); blank lines are skipped."""
    with path.open(encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, BadRecord(number, f"not JSON: {exc.msg}")
                continue
            yield number, (value if isinstance(value, dict) else BadRecord(number, "not a JSON object"))
