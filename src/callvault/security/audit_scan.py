"""The verifier's fast path over the database: plain Core rows, optionally checkpoint-delimited segments scanned
in parallel processes.

Each segment starts at a signed checkpoint (its signature already checked by the caller, its hash the trusted
start) and must end exactly at the next boundary checkpoint with the pinned hash, so the segments together cover
the whole chain. Worker processes read with their own plain connection: on SQLite a deferred read transaction
(WAL readers never block writers nor each other), on PostgreSQL as the application role under row-level security.
"""

from __future__ import annotations

import multiprocessing
import os
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Select, String, Table, create_engine, select, type_coerce
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from callvault.core import clock
from callvault.core.tenant_context import POSTGRES_KEY, bind_connection
from callvault.security.audit_models import AuditEvent
from callvault.security.auditchain import ChainHead, RawRecord, scan_intact
from callvault.security.canonical import format_time
from callvault.security.checkpoints import Checkpoint

_EVENTS = cast(Table, AuditEvent.__table__)


def _sqlite_time(stored: str) -> str:
    """SQLite keeps UTC times as ``YYYY-MM-DD HH:MM:SS.ffffff``: rewrite the text instead of parsing it."""
    if len(stored) == 26 and stored[10] == " ":
        return f"{stored[:10]}T{stored[11:]}Z"
    return format_time(clock.as_utc(datetime.fromisoformat(stored)))


def _statement(tenant_id: uuid.UUID, after_seq: int, to_seq: int | None, *, postgres: bool) -> Select[Any]:
    c = _EVENTS.c
    at_column = c.at if postgres else type_coerce(c.at, String())
    columns = (c.object_type, c.object_id, c.outcome, c.source_ip, c.request_id, c.details, c.prev_hash, c.hash)
    stmt = (
        select(c.seq, at_column, c.actor, c.action, *columns)
        .where(c.tenant_id == tenant_id, c.seq > after_seq)
        .order_by(c.seq)
    )
    return stmt if to_seq is None else stmt.where(c.seq <= to_seq)


def _rows(conn: Connection, stmt: Select[Any], *, postgres: bool) -> Iterator[RawRecord]:
    as_text = format_time if postgres else _sqlite_time
    for seq, at, actor, action, otype, oid, outcome, ip, rid, details, prev, digest in conn.execution_options(
        yield_per=5000
    ).execute(stmt):
        yield seq, as_text(at), actor, action, otype, oid, outcome, ip or None, rid or None, details, prev, digest


def raw_records(
    session: Session, tenant_id: uuid.UUID, *, after_seq: int = 0, to_seq: int | None = None
) -> Iterator[RawRecord]:
    """The tenant's records with seq in (after_seq, to_seq] as plain values (no ORM row handling, times kept as
    text on SQLite). The tenant filter is explicit: this is a Core statement on the session's connection."""
    postgres = bool(session.info.get(POSTGRES_KEY))
    stmt = _statement(tenant_id, after_seq, to_seq, postgres=postgres)
    return _rows(session.connection(), stmt, postgres=postgres)


def _scan_segment(
    url: str, tenant_id: uuid.UUID, start: ChainHead, to_seq: int | None, pinned: dict[int, str]
) -> ChainHead | None:
    """One segment in a worker process, on a connection of its own."""
    engine = create_engine(url, poolclass=NullPool)
    postgres = engine.dialect.name == "postgresql"
    try:
        with engine.connect() as conn:
            bind_connection(conn, tenant_id)
            rows = _rows(conn, _statement(tenant_id, start.seq, to_seq, postgres=postgres), postgres=postgres)
            return scan_intact(rows, tenant_id=start.tenant_id, start=start, checkpoint_hashes=pinned)
    finally:
        engine.dispose()


def _boundaries(checkpoints: Sequence[Checkpoint], parts: int) -> list[Checkpoint]:
    """Up to `parts - 1` checkpoints that cut the chain into segments of similar length."""
    if parts < 2 or len(checkpoints) < 2:
        return []
    last = checkpoints[-1].seq
    chosen: list[Checkpoint] = []
    for k in range(1, parts):
        target = last * k // parts
        best = min(checkpoints, key=lambda cp: abs(cp.seq - target))
        if best.seq > (chosen[-1].seq if chosen else 0):
            chosen.append(best)
    return chosen


def scan_tenant(
    session: Session, tenant_id: uuid.UUID, checkpoints: Sequence[Checkpoint], *, workers: int | None = None
) -> ChainHead | None:
    """The chain's head if every record links and matches the checkpoints' hashes (signatures checked by the
    caller), else None. With several workers the segments are scanned in parallel processes."""
    tenant = str(tenant_id)
    genesis = ChainHead.genesis(tenant)
    pinned = {cp.seq: cp.hash for cp in checkpoints}
    parts = workers if workers is not None else (os.cpu_count() or 1)
    cuts = _boundaries(checkpoints, parts)
    if not cuts:
        return scan_intact(raw_records(session, tenant_id), tenant_id=tenant, start=genesis, checkpoint_hashes=pinned)
    starts = [genesis, *(ChainHead(tenant, cp.seq, cp.hash) for cp in cuts)]
    ends: list[int | None] = [cp.seq for cp in cuts] + [None]
    url = session.get_bind().engine.url.render_as_string(hide_password=False)
    # fork: workers start at once and inherit the loaded modules; they open their own connections.
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    with ProcessPoolExecutor(max_workers=len(starts), mp_context=context) as pool:
        futures = [pool.submit(_scan_segment, url, tenant_id, s, e, pinned) for s, e in zip(starts, ends, strict=True)]
        heads = [f.result() for f in futures]
    for head, end in zip(heads, ends, strict=True):
        if head is None or (end is not None and head.seq != end):
            return None
    return heads[-1]
