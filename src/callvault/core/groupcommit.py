"""Group commit for SQLite: one fsync of the write-ahead log makes several transactions durable.

With ``PRAGMA synchronous=FULL`` every COMMIT fsyncs the WAL while holding SQLite's single write lock, so
concurrent writers queue behind each other's fsync. Here the connection runs with ``synchronous=NORMAL`` (a
COMMIT writes its WAL frames without fsync and releases the write lock at once) and the committing thread then
waits in `WalGroupCommit.wait_durable` until an fsync of the WAL file that started after its COMMIT has
finished: the first waiter performs the fsync, the commits that land meanwhile wait for the next one, which
covers them all. ``session.commit()`` still returns only once the transaction is on disk, so an acknowledged
write survives a power cut exactly as with FULL.

What differs from FULL: for the few milliseconds between its COMMIT and the fsync, a transaction is visible to
other connections before it is durable. A power cut in that window loses it (its own caller has not been
answered); another request may have read it meanwhile. A process crash loses nothing committed: the frames are
in the operating system's page cache and SQLite recovers them from the WAL.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path


class WalGroupCommit:
    """Tickets for committed transactions and the fsyncs that make them durable."""

    def __init__(self, wal_path: Path) -> None:
        self.wal_path = wal_path
        self._cond = threading.Condition()
        self._committed = 0
        self._durable = 0
        self._syncing = False
        self.fsyncs = 0

    def committed(self) -> int:
        """Call right after a COMMIT that wrote something: the ticket to wait for."""
        with self._cond:
            self._committed += 1
            return self._committed

    def wait_durable(self, ticket: int) -> None:
        """Return once an fsync that started after `ticket`'s COMMIT has completed (raises if the fsync fails)."""
        with self._cond:
            while self._durable < ticket:
                if self._syncing:
                    self._cond.wait()
                    continue
                self._syncing = True
                target = self._committed  # every ticket up to here has its frames written already
                synced = False
                self._cond.release()
                try:
                    self._fsync()
                    synced = True
                finally:
                    self._cond.acquire()
                    self._syncing = False
                    if synced:
                        self._durable = max(self._durable, target)
                        self.fsyncs += 1
                    self._cond.notify_all()

    def _fsync(self) -> None:
        try:
            fd = os.open(self.wal_path, os.O_RDONLY)
        except FileNotFoundError:
            return  # the last connection closed and checkpointed the log into the database file (with fsync)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
