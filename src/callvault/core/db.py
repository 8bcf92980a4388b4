"""Database engines and sessions. SQLite (WAL, foreign keys, busy timeout) by default, PostgreSQL by URL."""

from __future__ import annotations

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
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": settings.sqlite_busy_timeout_ms / 1000}
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

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # Take the write lock up front: a deferred transaction that reads and then writes cannot wait for a
            # concurrent writer (SQLite answers "database is locked" at once), an immediate one waits its turn.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

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
