"""Writes the routing owner's decisions and agent state changes to the database in batches.

One transaction per batch instead of per decision: at thousands of decisions a second a commit each (with its
fsync) would cost more than routing itself. A crash loses at most the unwritten batch, which the rebuild
tolerates (offers do not survive a restart anyway).

`start()` runs the writing in a background thread so a routing decision never waits for a disk flush. The owner
only appends to its two lists; the writer copies a prefix and deletes it once written (`del lst[:n]`), which is
safe against concurrent appends under the GIL without a lock on the routing path.
"""

from __future__ import annotations

import threading
import time
import uuid

import structlog

from callvault.acd import service
from callvault.acd.router import Router
from callvault.core.db import Database
from callvault.core.tenant_context import set_tenant
from callvault.security.principal import Principal, system_principal

log = structlog.get_logger(__name__)


class DecisionWriter:
    """Drains `router.decisions` and `router.state_changes` through `service.record_routing`."""

    def __init__(
        self,
        db: Database,
        *,
        router: Router,
        tenant_id: uuid.UUID,
        tenant_slug: str,
        batch_size: int = 4096,
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
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
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
        """Write everything pending now, in the calling thread."""
        with self.router.log_lock:
            router = self.router
            n_decisions, n_changes = len(router.decisions), len(router.state_changes)
            self._last = time.monotonic()
            if not n_decisions and not n_changes:
                return 0
            decisions, changes = router.decisions[:n_decisions], router.state_changes[:n_changes]
            with self.db.scoped() as session:
                set_tenant(session, self.tenant_id)
                written = service.record_routing(session, actor=self.actor, decisions=decisions, state_changes=changes)
            # Removed only once written: a failed batch stays in front and is retried with the next one.
            del router.decisions[:n_decisions]
            del router.state_changes[:n_changes]
            self.batches += 1
            self.rows += written
            return written

    def start(self) -> None:
        """Write in a background thread every `max_delay_seconds` (or sooner when a batch is full)."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="acd-decision-writer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread after writing what is pending."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.max_delay / 4):
            try:
                self.maybe_flush()
            except Exception:
                log.exception("routing log batch failed; it is retried with the next one")
