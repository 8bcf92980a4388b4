"""Taking, renewing and giving back a lease with conditional writes, so two processes never both hold it."""

from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Insert, delete, update
from sqlalchemy.dialects import postgresql, sqlite

from callvault.core import clock
from callvault.core.db import Database
from callvault.services.models import ServiceLease


def holder_id() -> str:
    """This process, recognisably (host and pid) and uniquely (a restarted pid is a new holder)."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def acquire(db: Database, name: str, holder: str, ttl: float) -> bool:
    """Take or renew the lease `name` for `ttl` seconds; False while another holder's lease runs."""
    now = clock.now()
    until = now + timedelta(seconds=ttl)
    with db.scoped() as session:
        stmt: Insert
        if db.is_postgres:
            stmt = postgresql.insert(ServiceLease).on_conflict_do_nothing(index_elements=["name"])
        else:
            stmt = sqlite.insert(ServiceLease).on_conflict_do_nothing(index_elements=["name"])
        inserted = cast(CursorResult[Any], session.execute(stmt.values(name=name, holder=holder, expires_at=until)))
        if inserted.rowcount == 1:
            session.commit()
            return True
        taken = cast(
            CursorResult[Any],
            session.execute(
                update(ServiceLease)
                .where(ServiceLease.name == name, (ServiceLease.holder == holder) | (ServiceLease.expires_at < now))
                .values(holder=holder, expires_at=until)
            ),
        )
        session.commit()
        return taken.rowcount == 1


def release(db: Database, name: str, holder: str) -> None:
    with db.scoped() as session:
        session.execute(delete(ServiceLease).where(ServiceLease.name == name, ServiceLease.holder == holder))
        session.commit()
