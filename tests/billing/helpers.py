"""Billing test objects built through the action functions: tariffs, trunk costs, legs."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from callvault.billing import service
from callvault.billing.rating import Channel, Direction, RatingLeg
from callvault.billing.schemas import MonthlyFeeIn, RateIn, TariffCreate, TariffRead, TrunkCostCreate
from callvault.core.db import Database
from callvault.core.errors import Conflict
from callvault.tenancy import service as tenancy

OCTOBER = datetime(2026, 10, 1, 0, 0, tzinfo=UTC)
TRUNK = "ct-sh-1"


def tariff_for(db: Database, institution_id: uuid.UUID, *, valid_from: date = date(2026, 1, 1)) -> TariffRead:
    with db.scoped() as session:
        actor = tenancy.operator_principal(session)
        return service.create_tariff(
            session,
            actor=actor,
            data=TariffCreate(
                institution_id=institution_id,
                name="Outsourcing 2026",
                valid_from=valid_from,
                message_price=Decimal("0.045"),
                rates=[
                    RateIn(destination="+86", price_per_minute=Decimal("0.15"), minimum_seconds=60),
                    RateIn(destination="+86138", price_per_minute=Decimal("0.12"), increment_seconds=6),
                    RateIn(destination="toll_free", price_per_minute=Decimal("0.08")),
                    RateIn(destination="*", price_per_minute=Decimal("0.30")),
                    RateIn(destination="*", price_per_minute=Decimal("0.10"), direction=Direction.INBOUND),
                ],
                monthly_fees=[
                    MonthlyFeeIn(kind="seat", description="Agent seats", quantity=20, unit_price=Decimal("1800")),
                    MonthlyFeeIn(kind="number", description="400 numbers", quantity=2, unit_price=Decimal("300")),
                    MonthlyFeeIn(
                        kind="trunk", description="SIP trunk 30 channels", quantity=1, unit_price=Decimal("900")
                    ),
                ],
            ),
        )


def trunk_cost(db: Database, trunk: str = TRUNK) -> None:
    """The carrier's price for `trunk` (trunk costs are the operator's, shared by tests: added once)."""
    with db.scoped() as session, contextlib.suppress(Conflict):
        actor = tenancy.operator_principal(session)
        service.create_trunk_cost(
            session,
            actor=actor,
            data=TrunkCostCreate(
                trunk=trunk,
                valid_from=date(2026, 1, 1),
                rates=[RateIn(destination="*", price_per_minute=Decimal("0.05"), increment_seconds=6)],
            ),
        )


def make_leg(
    tenant_id: uuid.UUID,
    *,
    seconds: int = 75,
    start: datetime = OCTOBER + timedelta(days=3),
    destination: str = "+8613800138000",
    number_type: str = "mobile",
    answered: bool = True,
    closed: bool = True,
    campaign_id: uuid.UUID | None = None,
    channel: Channel = Channel.VOICE,
    trunk: str = TRUNK,
) -> RatingLeg:
    return RatingLeg(
        leg_id=uuid.uuid4(),
        tenant_id=tenant_id,
        direction=Direction.OUTBOUND,
        destination=destination,
        number_type=number_type,
        trunk=trunk,
        answered_at=start if answered else None,
        ended_at=start + timedelta(seconds=seconds) if closed else None,
        campaign_id=campaign_id,
        channel=channel,
    )


def write_ndjson(path: Path, legs: Iterable[RatingLeg]) -> None:
    with path.open("w", encoding="utf-8") as out:
        for leg in legs:
            record: dict[str, Any] = {
                "leg_id": str(leg.leg_id),
                "tenant_id": str(leg.tenant_id),
                "direction": leg.direction.value,
                "destination": leg.destination,
                "number_type": leg.number_type,
                "trunk": leg.trunk,
                "answered_at": leg.answered_at.isoformat() if leg.answered_at else None,
                "ended_at": leg.ended_at.isoformat() if leg.ended_at else None,
                "campaign_id": str(leg.campaign_id) if leg.campaign_id else None,
                "channel": leg.channel.value,
            }
            out.write(json.dumps(record) + "\n")
