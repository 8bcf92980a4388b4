"""Today's ACD traffic hour by hour, per queue and in total, for the wallboard's charts and the API.

The figures are counted by the database from the decision log in one grouped statement (a day of a busy
institution is hundreds of thousands of rows: none of them is loaded into Python). "Today" is the institution's
local day when its settings name a time zone (`settings["time_zone"]`, an IANA name such as "Asia/Shanghai"),
else the UTC day; the answer says which. Hours are counted from local midnight in steps of one hour, so a day
with a daylight-saving change has 23 or 25 of them, each labelled with its local start time.

Definitions are those of the live statistics (`live_stats.py`): a call is offered in the hour it first entered
the queue today (queued, offered or answered), answered and abandoned in the hour of that decision, and answered
within the target when its wait is at most the queue's `service_level_seconds`.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import BigInteger, ColumnElement, Integer, and_, case, cast, func, literal, select, union_all
from sqlalchemy.orm import Session

from callvault.acd.models import AcdQueue, AcdRoutingDecision
from callvault.core import clock
from callvault.core.errors import NotFound
from callvault.security.principal import Principal
from callvault.tenancy.models import Tenant

# The wallboard's permission: whoever may read the live statistics may read their hourly history.
READ: Final = "report.read"
ENTERED: Final = ("queued", "offered", "answered")
FIGURES: Final = ("offered", "answered", "abandoned", "answered_in_target")


@dataclass(frozen=True)
class LocalDay:
    zone: str
    zone_is_default: bool  # no (valid) zone in the institution's settings: the UTC day
    day: date
    start: datetime  # UTC
    end: datetime  # UTC, exclusive
    hours: list[datetime]  # UTC start of each hour of the day

    def labels(self) -> list[str]:
        tz = ZoneInfo(self.zone)
        return [h.astimezone(tz).strftime("%H:%M") for h in self.hours]


def local_day(settings: dict[str, Any] | None, now: datetime) -> LocalDay:
    """The local day containing `now` under the zone named in an institution's settings (UTC without one)."""
    name = (settings or {}).get("time_zone")
    zone, default = ZoneInfo("UTC"), True
    if isinstance(name, str) and name:
        # A misspelt zone must not take the wallboard down: UTC, and the answer says so.
        with contextlib.suppress(ZoneInfoNotFoundError, ValueError):
            zone, default = ZoneInfo(name), False
    today = now.astimezone(zone).date()
    start = datetime.combine(today, time(0), zone).astimezone(UTC)
    end = datetime.combine(today + timedelta(days=1), time(0), zone).astimezone(UTC)
    count = round((end - start).total_seconds() / 3600)
    hours = [start + timedelta(hours=i) for i in range(count)]
    return LocalDay(str(zone.key), default, today, start, end, hours)


@dataclass
class Hour:
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    answered_in_target: int = 0

    def add(self, other: Hour) -> None:
        self.offered += other.offered
        self.answered += other.answered
        self.abandoned += other.abandoned
        self.answered_in_target += other.answered_in_target

    @property
    def service_level(self) -> float | None:
        return round(self.answered_in_target / self.offered, 4) if self.offered else None


@dataclass(frozen=True)
class QueueHours:
    queue_id: uuid.UUID
    name: str
    service_level_seconds: int
    hours: list[Hour]


@dataclass(frozen=True)
class TodayReport:
    day: LocalDay
    queues: list[QueueHours]
    total: list[Hour]


def _hour_of(dialect: str, at: Any, start_epoch: int) -> ColumnElement[int]:
    """Whole hours from the day's start, computed by the database (integer arithmetic: exact at the hour)."""
    if dialect == "sqlite":
        # Stored as "YYYY-MM-DD HH:MM:SS.ffffff" UTC text; the whole seconds only, as strftime rounds fractions.
        seconds: ColumnElement[int] = cast(func.strftime("%s", func.substr(at, 1, 19)), Integer)
    else:
        seconds = cast(func.floor(func.extract("epoch", at)), BigInteger)
    return (seconds - start_epoch) // 3600  # floor division: integer on both dialects


def hourly_counts(
    session: Session, tenant_id: uuid.UUID, day: LocalDay, queue_id: uuid.UUID | None = None
) -> dict[tuple[uuid.UUID, int], Hour]:
    """(queue, hour index) → figures, from one grouped statement over the day's decisions."""
    d, q = AcdRoutingDecision, AcdQueue
    dialect = session.get_bind().dialect.name
    epoch = int(day.start.timestamp())
    window = [d.tenant_id == tenant_id, d.queue_id.is_not(None), d.at >= day.start, d.at < day.end]
    if queue_id is not None:
        window.append(d.queue_id == queue_id)
    # Constants rendered into the statement (not bound): the union's columns then have a type on every database.
    zero: ColumnElement[int] = literal(0, Integer, literal_execute=True)
    one: ColumnElement[int] = literal(1, Integer, literal_execute=True)
    # Each call once per queue, in the hour it first entered it today.
    first = (
        select(d.queue_id.label("queue_id"), func.min(d.at).label("at"))
        .where(*window, d.kind.in_(ENTERED))
        .group_by(d.queue_id, d.call_id)
        .subquery()
    )
    entered = select(
        first.c.queue_id,
        _hour_of(dialect, first.c.at, epoch).label("h"),
        one.label("offered"),
        zero.label("answered"),
        zero.label("abandoned"),
        zero.label("in_target"),
    )
    answered = d.kind == "answered"
    outcomes = (
        select(
            d.queue_id,
            _hour_of(dialect, d.at, epoch).label("h"),
            zero.label("offered"),
            case((answered, 1), else_=0).label("answered"),
            case((d.kind == "abandoned", 1), else_=0).label("abandoned"),
            case((and_(answered, d.wait_ms <= q.service_level_seconds * 1000), 1), else_=0).label("in_target"),
        )
        .join(q, q.id == d.queue_id)
        .where(*window, d.kind.in_(("answered", "abandoned")))
    )
    u = union_all(entered, outcomes).subquery()
    stmt = select(
        u.c.queue_id,
        u.c.h,
        func.sum(u.c.offered),
        func.sum(u.c.answered),
        func.sum(u.c.abandoned),
        func.sum(u.c.in_target),
    ).group_by(u.c.queue_id, u.c.h)
    out: dict[tuple[uuid.UUID, int], Hour] = {}
    for qid, h, offered, ans, abandoned, in_target in session.execute(stmt):
        qid = qid if isinstance(qid, uuid.UUID) else uuid.UUID(str(qid))
        out[(qid, int(h))] = Hour(int(offered or 0), int(ans or 0), int(abandoned or 0), int(in_target or 0))
    return out


def today(session: Session, *, actor: Principal, queue_id: uuid.UUID | None = None) -> TodayReport:
    """Today's hourly figures of the actor's institution (one queue, or all of them with their total)."""
    actor.require(READ)
    tenant = session.get(Tenant, actor.tenant_id)
    day = local_day(tenant.settings if tenant is not None else None, clock.now())
    stmt = select(AcdQueue).where(AcdQueue.tenant_id == actor.tenant_id).order_by(AcdQueue.name)
    if queue_id is not None:
        stmt = stmt.where(AcdQueue.id == queue_id)
    queues = [(x.id, x.name, x.service_level_seconds) for x in session.scalars(stmt)]
    if queue_id is not None and not queues:
        raise NotFound("no such queue")
    counts = hourly_counts(session, actor.tenant_id, day, queue_id)
    n = len(day.hours)
    total = [Hour() for _ in range(n)]
    out = []
    for qid, name, target in queues:
        hours = [counts.get((qid, i), Hour()) for i in range(n)]
        for t, h in zip(total, hours, strict=True):
            t.add(h)
        out.append(QueueHours(qid, name, target, hours))
    return TodayReport(day, out, total)
