"""Database engines and sessions. SQLite (WAL, foreign keys, busy timeout) by default, PostgreSQL by URL."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from callvault.config import Settings
from callvault.core import tenant_context
from callvault.core.events import EventBus, InProcessEventBus
from callvault.core.outbox import RELAY_KEY, OutboxRelay


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

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # pysqlite's own transaction handling defers BEGIN; take control so BEGIN IMMEDIATE is possible.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={busy}")
            # Acknowledged writes (call records, audit) must survive a power cut, not only a process crash.
            cur.execute("PRAGMA synchronous=FULL")
            cur.close()

        # SQLite has one writer at a time. Threads of this process queue on a lock instead of polling SQLite's
        # busy handler, whose growing sleeps turn a burst of concurrent requests into a convoy.
        writer = threading.Lock()
        wait = settings.sqlite_busy_timeout_ms / 1000

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # Take the write lock up front: a deferred transaction that reads and then writes cannot wait for a
            # concurrent writer (SQLite answers "database is locked" at once), an immediate one waits its turn.
            if not writer.acquire(timeout=wait):
                raise sqlite3.OperationalError("database is locked (waited for this process's writer)")
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                writer.release()
                raise
            conn.info["callvault.writer"] = True

        def _end(conn: Any, sql: str) -> None:
            if not conn.info.pop("callvault.writer", False):
                return
            try:
                # End the transaction here so the lock is free the moment SQLite's is; the driver's own
                # commit/rollback that follows finds no transaction and does nothing.
                conn.exec_driver_sql(sql)
            finally:
                writer.release()

        @event.listens_for(engine, "commit")
        def _sqlite_commit(conn: Any) -> None:
            _end(conn, "COMMIT")

        @event.listens_for(engine, "rollback")
        def _sqlite_rollback(conn: Any) -> None:
            _end(conn, "ROLLBACK")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


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
