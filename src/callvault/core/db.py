"""Database engines and sessions. SQLite (WAL, foreign keys, busy timeout) by default, PostgreSQL by URL."""

from __future__ import annotations

import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from callvault.config import Settings
from callvault.core import tenant_context
from callvault.core.events import EventBus, InProcessEventBus
from callvault.core.groupcommit import WalGroupCommit
from callvault.core.outbox import RELAY_KEY, OutboxRelay

_group_commits: weakref.WeakKeyDictionary[Engine, WalGroupCommit] = weakref.WeakKeyDictionary()


def make_engine(url: str, *, settings: Settings) -> Engine:
    """Create an engine with the pragmas CallVault relies on."""
    if url.startswith("sqlite"):
        # A committing session keeps its connection while the outbox relay (an after-commit hook) takes a second
        # one: with the default pool (5 + 10), fifteen concurrent commits waited on each other until the pool
        # timeout. Room for every request thread (40) twice over.
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": settings.sqlite_busy_timeout_ms / 1000},
            pool_size=20,
            max_overflow=80,
        )
        busy = int(settings.sqlite_busy_timeout_ms)
        database = engine.url.database or ""
        group = (
            WalGroupCommit(Path(database + "-wal"))
            if settings.sqlite_group_commit and database not in ("", ":memory:")
            else None
        )
        if group is not None:
            _group_commits[engine] = group

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # pysqlite's own transaction handling defers BEGIN; take control so BEGIN IMMEDIATE is possible.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={busy}")
            # Acknowledged writes (call records, audit) must survive a power cut, not only a process crash: FULL
            # fsyncs in every COMMIT; with group commit the committing thread waits for a shared fsync instead.
            cur.execute("PRAGMA synchronous=NORMAL" if group is not None else "PRAGMA synchronous=FULL")
            cur.close()

        # SQLite has one writer at a time. Threads of this process queue on a lock instead of polling SQLite's
        # busy handler, whose growing sleeps turn a burst of concurrent requests into a convoy.
        writer = threading.Lock()
        wait = settings.sqlite_busy_timeout_ms / 1000

        _writers[engine] = (writer, wait)

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # Take the write lock up front: a deferred transaction that reads and then writes cannot wait for a
            # concurrent writer (SQLite answers "database is locked" at once), an immediate one waits its turn.
            turn = _turn.get()
            if turn is not None and turn.lock is writer and not turn.used:
                turn.used = True  # taken already, without a worker thread (`take_writer_turn`)
            elif not writer.acquire(timeout=wait):
                raise sqlite3.OperationalError("database is locked (waited for this process's writer)")
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                writer.release()
                raise
            conn.info["callvault.writer"] = True
            conn.info["callvault.changes"] = _total_changes(conn)

        def _end(conn: Any, sql: str) -> None:
            if not conn.info.pop("callvault.writer", False):
                return
            before = conn.info.pop("callvault.changes", None)
            ticket = None
            try:
                # End the transaction here so the lock is free the moment SQLite's is; the driver's own
                # commit/rollback that follows finds no transaction and does nothing.
                conn.exec_driver_sql(sql)
                if group is not None and sql == "COMMIT" and _total_changes(conn) != before:
                    ticket = group.committed()
            finally:
                writer.release()
            if group is not None and ticket is not None:
                # Outside the write lock: the next transaction runs while this one waits for its fsync.
                group.wait_durable(ticket)

        @event.listens_for(engine, "commit")
        def _sqlite_commit(conn: Any) -> None:
            _end(conn, "COMMIT")

        @event.listens_for(engine, "rollback")
        def _sqlite_rollback(conn: Any) -> None:
            _end(conn, "ROLLBACK")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


@dataclass
class WriterTurn:
    """This process's SQLite write lock, taken for a request before its first statement."""

    lock: threading.Lock
    used: bool = False


_writers: weakref.WeakKeyDictionary[Engine, tuple[threading.Lock, float]] = weakref.WeakKeyDictionary()
_turn: ContextVar[WriterTurn | None] = ContextVar("callvault_writer_turn", default=None)
# One thread at a time waits for the lock on behalf of queued requests; the others wait in the event loop.
_turn_waiter = anyio.CapacityLimiter(1)


async def take_writer_turn(engine: Engine) -> WriterTurn | None:
    """For a request whose one transaction spans several framework steps (dependencies, then the endpoint, each
    on a worker thread): take SQLite's write lock before the first step, waiting in the event loop. Waiting for it
    on worker threads could take every thread while the holder needs one for its next step. The first BEGIN in
    this context uses the turn; `release_unused_turn` frees it if no statement ran. None on PostgreSQL."""
    found = _writers.get(engine)
    if found is None:
        return None
    lock, wait = found
    # Free and nobody queued: take it here, without a worker thread. With a queue, join it (no overtaking).
    if _turn_waiter.borrowed_tokens == 0 and lock.acquire(blocking=False):
        turn = WriterTurn(lock)
        _turn.set(turn)
        return turn
    if not await anyio.to_thread.run_sync(lambda: lock.acquire(timeout=wait), limiter=_turn_waiter):
        raise sqlite3.OperationalError("database is locked (waited for this process's writer)")
    turn = WriterTurn(lock)
    _turn.set(turn)
    return turn


def release_unused_turn(turn: WriterTurn | None) -> None:
    if turn is not None and not turn.used:
        turn.used = True
        turn.lock.release()


def _total_changes(conn: Any) -> int:
    """Rows changed on this SQLite connection since it opened: a transaction that changed none needs no fsync."""
    changes: int = conn.connection.dbapi_connection.total_changes
    return changes


def group_commit(engine: Engine) -> WalGroupCommit | None:
    """The engine's group commit (SQLite file databases with `sqlite_group_commit`), for tests and benchmarks."""
    return _group_commits.get(engine)


class Database:
    """The application's engine and session factory."""

    def __init__(self, settings: Settings, *, bus: EventBus | None = None) -> None:
        self.settings = settings
        self.url = settings.effective_database_url
        if self.url.startswith("sqlite"):
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.engine = make_engine(self.url, settings=settings)
        self.is_postgres = self.engine.dialect.name == "postgresql"
        self.session_factory = sessionmaker(self.engine, expire_on_commit=False)
        self.bus: EventBus = bus or InProcessEventBus()
        self.relay = OutboxRelay(self.engine, self.bus)
        # Imported here: the audit witnesses are a security concern wired into every process that writes.
        from callvault.security import witness

        witness.install(self)

    def session(self) -> Session:
        session = self.session_factory()
        session.info[tenant_context.POSTGRES_KEY] = self.is_postgres
        session.info[RELAY_KEY] = self.relay
        return session

    @contextmanager
    def scoped(self) -> Iterator[Session]:
        """A session that is always closed; the caller commits."""
        session = self.session()
        try:
            yield session
        finally:
            session.close()

    def ping(self) -> bool:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True

    def dispose(self) -> None:
        self.engine.dispose()
