"""Driver-level rows for the batched log inserts.

The routing log is written at thousands of rows a second. The inserts go through untyped Core table clauses
with values already in their stored form (SQLite: hex UUIDs and UTC text times, exactly as SQLAlchemy stores
them; PostgreSQL: native values), which skips per-value type processing but stays SQLAlchemy-built SQL. The
tenant id is the session's context, set on every row; on PostgreSQL row-level security checks it as usual.

The row builders are plain loops with everything bound to locals: at six to seven rows per routed call, a method
call per value (id, time) cost more than the dictionary itself.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import column, table

from callvault.acd.agent_state import StateChange
from callvault.acd.router import Decision

_STATE_COLUMNS = ("tenant_id", "seq", "agent_id", "state", "reason", "call_id", "at", "idle_since")
_DECISION_COLUMNS = (
    "tenant_id",
    "seq",
    "kind",
    "call_id",
    "queue_id",
    "agent_id",
    "at",
    "priority",
    "wait_ms",
    "target",
)


# Same names as the models' tables; no types, so no per-value processing.
STATE_LOG = table("acd_agent_state_log", *(column(c) for c in _STATE_COLUMNS))
DECISION_LOG = table("acd_routing_decisions", *(column(c) for c in _DECISION_COLUMNS))


class LogRows:
    """Encodes state changes and decisions for one dialect."""

    def __init__(self, dialect: str) -> None:
        self.sqlite = dialect == "sqlite"
        self._second = -1
        self._prefix = ""

    def uid(self, value: uuid.UUID | None) -> object:
        if value is None:
            return None
        # `'%032x' % value.int` is what `UUID.hex` returns, without the property call.
        return "%032x" % value.int if self.sqlite else value  # noqa: UP031 -- the fastest spelling

    @staticmethod
    def hex_id(encoded: object) -> str:
        """An id from an encoded row as 32 hex digits (SQLite rows hold it already)."""
        return encoded if isinstance(encoded, str) else encoded.hex if isinstance(encoded, uuid.UUID) else ""

    def time(self, seconds: float) -> object:
        if not self.sqlite:
            return datetime.fromtimestamp(seconds, UTC)
        whole = int(seconds)
        if whole != self._second:  # times arrive in order, so one cached second serves most rows
            self._second = whole
            self._prefix = datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%d %H:%M:%S")
        return f"{self._prefix}.{int((seconds - whole) * 1_000_000):06d}"

    def state_rows(self, tenant_id: uuid.UUID, changes: list[StateChange]) -> list[dict[str, object]]:
        if not self.sqlite:
            return self._state_rows_native(tenant_id, changes)
        tenant, time = self.uid(tenant_id), self.time
        rows: list[dict[str, object]] = []
        append = rows.append
        for c in changes:
            call, idle = c.call_id, c.idle_since
            append(
                {
                    "tenant_id": tenant,
                    "seq": c.seq,
                    "agent_id": "%032x" % c.agent_id.int,  # noqa: UP031
                    "state": str(c.state),  # the enum's text (StrEnum), without the `.value` property
                    "reason": c.reason,
                    "call_id": None if call is None else "%032x" % call.int,  # noqa: UP031
                    "at": time(c.at),
                    "idle_since": None if idle is None else time(idle),
                }
            )
        return rows

    def decision_rows(self, tenant_id: uuid.UUID, decisions: list[Decision]) -> list[dict[str, object]]:
        if not self.sqlite:
            return self._decision_rows_native(tenant_id, decisions)
        tenant, time = self.uid(tenant_id), self.time
        rows: list[dict[str, object]] = []
        append = rows.append
        for d in decisions:
            queue, agent = d.queue_id, d.agent_id
            append(
                {
                    "tenant_id": tenant,
                    "seq": d.seq,
                    "kind": d.kind,
                    "call_id": "%032x" % d.call_id.int,  # noqa: UP031
                    "queue_id": None if queue is None else "%032x" % queue.int,  # noqa: UP031
                    "agent_id": None if agent is None else "%032x" % agent.int,  # noqa: UP031
                    "at": time(d.at),
                    "priority": d.priority,
                    "wait_ms": int(d.wait * 1000),
                    "target": d.target,
                }
            )
        return rows

    # PostgreSQL takes UUIDs and aware datetimes as they are (psycopg adapts them).

    @staticmethod
    def _state_rows_native(tenant_id: uuid.UUID, changes: list[StateChange]) -> list[dict[str, object]]:
        stamp = datetime.fromtimestamp
        return [
            {
                "tenant_id": tenant_id,
                "seq": c.seq,
                "agent_id": c.agent_id,
                "state": str(c.state),
                "reason": c.reason,
                "call_id": c.call_id,
                "at": stamp(c.at, UTC),
                "idle_since": None if c.idle_since is None else stamp(c.idle_since, UTC),
            }
            for c in changes
        ]

    @staticmethod
    def _decision_rows_native(tenant_id: uuid.UUID, decisions: list[Decision]) -> list[dict[str, object]]:
        stamp = datetime.fromtimestamp
        return [
            {
                "tenant_id": tenant_id,
                "seq": d.seq,
                "kind": d.kind,
                "call_id": d.call_id,
                "queue_id": d.queue_id,
                "agent_id": d.agent_id,
                "at": stamp(d.at, UTC),
                "priority": d.priority,
                "wait_ms": int(d.wait * 1000),
                "target": d.target,
            }
            for d in decisions
        ]
