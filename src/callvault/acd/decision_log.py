"""Writes the routing owner's decisions and agent state changes to the database in batches.

One transaction per batch instead of per decision: at thousands of decisions a second a commit each (with its
fsync) would cost more than routing itself. A crash loses at most the unwritten batch, which the rebuild
tolerates (offers do not survive a restart anyway).
"""

from __future__ import annotations

import time
import uuid

from callvault.acd import service
from callvault.acd.router import Router
from callvault.core.db import Database
from callvault.core.tenant_context import set_tenant
from callvault.security.principal import Principal, system_principal


class DecisionWriter:
    """Drains `router.decisions` and `router.state_changes` through `service.record_routing`."""

    def __init__(
        self,
        db: Database,
        *,
        router: Router,
        tenant_id: uuid.UUID,
        tenant_slug: str,
        batch_size: int = 512,
        max_delay_seconds: float = 0.05,
    ) -> None:
        self.db = db
        self.router = router
        self.tenant_id = tenant_id
        self.batch_size = batch_size
        self.max_delay = max_delay_seconds
        self.actor: Principal = system_principal(
            tenant_id=tenant_id, tenant_slug=tenant_slug, tenant_kind="institution", name="acd"
        )
        self._last = time.monotonic()
        self.batches = 0
        self.rows = 0

    def pending(self) -> int:
        return len(self.router.decisions) + len(self.router.state_changes)

    def maybe_flush(self) -> int:
        """Write when the batch is full or the oldest pending entry has waited `max_delay_seconds`."""
        pending = self.pending()
        if pending >= self.batch_size or (pending and time.monotonic() - self._last >= self.max_delay):
            return self.flush()
        return 0

    def flush(self) -> int:
        router = self.router
        decisions, changes = router.decisions, router.state_changes
        router.decisions, router.state_changes = [], []
        self._last = time.monotonic()
        if not decisions and not changes:
            return 0
        with self.db.scoped() as session:
            set_tenant(session, self.tenant_id)
            try:
                written = service.record_routing(session, actor=self.actor, decisions=decisions, state_changes=changes)
            except Exception:
                # Keep them for the next attempt, in order, ahead of anything decided meanwhile.
                router.decisions[:0], router.state_changes[:0] = decisions, changes
                raise
        self.batches += 1
        self.rows += written
        return written
