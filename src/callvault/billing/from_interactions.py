"""Rating the real call legs: closed customer legs of every institution's call records, into the ledger once.

The legs are read institution by institution (each read in its own session, under that institution's row-level
security) and page by page; each page is rated in the operator's session by `ledger.rate_legs`, which commits
batch by batch and skips legs already in the ledger. So this is safe to run again at any time, from several
processes at once and after a kill at any point: every leg ends up rated exactly once.

Only customer legs are billable: they cross a carrier's trunk. Agent, supervisor and IVR legs are the platform's
own connections inside the call and are not priced.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import select

from callvault.billing import ledger
from callvault.billing.legs import BadRecord, interaction_leg_record, legs_from_records, numbered
from callvault.core import clock
from callvault.core.db import Database
from callvault.core.tenant_context import set_tenant
from callvault.interactions import service as interactions
from callvault.interactions.schemas import PartyKind
from callvault.security.principal import system_principal
from callvault.tenancy import service as tenancy
from callvault.tenancy.models import Tenant, TenantKind

PAGE: Final = 2000
# A leg ending at T may be committed a little after T (the recorder writes on its own thread); later passes look
# back this far behind the previous pass so such a leg is still read.
LATE_COMMIT_MARGIN: Final = timedelta(minutes=10)


@dataclass
class InteractionRating:
    run: ledger.RatingRun = field(default_factory=ledger.RatingRun)
    bad: list[BadRecord] = field(default_factory=list)
    institutions: int = 0

    def add(self, part: ledger.RatingRun) -> None:
        self.run.read += part.read
        self.run.rated += part.rated
        self.run.already_rated += part.already_rated
        self.run.still_open += part.still_open
        self.run.unrated.update(part.unrated)
        self.run.amount += part.amount

    def as_dict(self) -> dict[str, Any]:
        return self.run.as_dict() | {
            "institutions": self.institutions,
            "bad_records": len(self.bad),
            "bad_examples": [b.__dict__ for b in self.bad[:10]],
        }


def institutions(db: Database, slugs: list[str] | None = None) -> list[tuple[uuid.UUID, str]]:
    """Every institution (not the operator), or those named."""
    with db.scoped() as session:
        stmt = select(Tenant.id, Tenant.slug).where(Tenant.kind != TenantKind.OPERATOR.value).order_by(Tenant.slug)
        if slugs:
            stmt = stmt.where(Tenant.slug.in_(slugs))
        return [(row.id, row.slug) for row in session.execute(stmt)]


def customer_leg_pages(
    db: Database, tenant_id: uuid.UUID, slug: str, *, since: datetime, until: datetime, page: int = PAGE
) -> Iterator[list[dict[str, Any]]]:
    """The institution's closed customer legs ended in [since, until), as records, a page at a time. No session
    stays open while the caller works on a page (SQLite has one writer; the rating writes between pages)."""
    after: tuple[datetime, uuid.UUID] | None = None
    while True:
        with db.scoped() as session:
            set_tenant(session, tenant_id)
            actor = system_principal(tenant_id=tenant_id, tenant_slug=slug, tenant_kind="institution", name="billing")
            rows = interactions.legs_for_rating(
                session,
                actor=actor,
                ended_from=since,
                ended_before=until,
                party=PartyKind.CUSTOMER,
                after=after,
                limit=page,
            )
            records = [interaction_leg_record(leg) for leg in rows]
            session.commit()
        if not records:
            return
        yield records
        last = rows[-1]
        assert last.ended_at is not None
        after = (last.ended_at, last.id)
        if len(records) < page:
            return


def rate_from_interactions(
    db: Database,
    *,
    since: datetime,
    until: datetime | None = None,
    slugs: list[str] | None = None,
    batch_size: int = ledger.DEFAULT_BATCH,
    on_progress: Callable[[InteractionRating], None] | None = None,
) -> InteractionRating:
    """Rate every closed customer leg ended in [since, until) not rated yet (see the module's text)."""
    end = until or clock.now()
    result = InteractionRating()
    for tenant_id, slug in institutions(db, slugs):
        result.institutions += 1
        for records in customer_leg_pages(db, tenant_id, slug, since=since, until=end):
            legs = list(legs_from_records(numbered(records), result.bad.append))
            with db.scoped() as session:
                actor = tenancy.operator_principal(session, name="billing-rate")
                result.add(ledger.rate_legs(session, actor=actor, legs=legs, batch_size=batch_size))
            if on_progress is not None:
                on_progress(result)
    return result


class RatingPasses:
    """What the rating loop remembers between passes: a pass reads legs ended since the previous pass (less a
    margin for late commits); every `full_scan_seconds` it reads the whole look-back period again, which rates
    legs left unrated earlier because their tariff did not exist yet."""

    def __init__(
        self, db: Database, *, lookback: timedelta, full_scan_seconds: float, slugs: list[str] | None = None
    ) -> None:
        self.db, self.lookback, self.full_scan_seconds, self.slugs = db, lookback, full_scan_seconds, slugs
        self._previous: datetime | None = None
        self._last_full = float("-inf")

    def run_once(self) -> InteractionRating:
        now = clock.now()
        full = self._previous is None or time.monotonic() - self._last_full >= self.full_scan_seconds
        since = now - self.lookback if full or self._previous is None else self._previous - LATE_COMMIT_MARGIN
        result = rate_from_interactions(self.db, since=since, until=now, slugs=self.slugs)
        self._previous = now
        if full:
            self._last_full = time.monotonic()
        return result
