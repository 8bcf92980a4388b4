"""Driver-level rows for the batched log inserts.

The routing log is written at thousands of rows a second. The inserts go through untyped Core table clauses
with values already in their stored form (SQLite: hex UUIDs and UTC text times, exactly as SQLAlchemy stores
them; PostgreSQL: native values), which skips per-value type processing but stays SQLAlchemy-built SQL. The
tenant id is the session's context, set on every row; on PostgreSQL row-level security checks it as usual.
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
        return value.hex if self.sqlite else value

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
        tenant, uid, time = self.uid(tenant_id), self.uid, self.time
        return [
            {
                "tenant_id": tenant,
                "seq": c.seq,
                "agent_id": uid(c.agent_id),
                "state": c.state.value,
                "reason": c.reason,
                "call_id": uid(c.call_id),
                "at": time(c.at),
                "idle_since": time(c.idle_since) if c.idle_since is not None else None,
            }
            for c in changes
        ]

    def decision_rows(self, tenant_id: uuid.UUID, decisions: list[Decision]) -> list[dict[str, object]]:
        tenant, uid, time = self.uid(tenant_id), self.uid, self.time
        return [
            {
                "tenant_id": tenant,
                "seq": d.seq,
                "kind": d.kind,
                "call_id": uid(d.call_id),
                "queue_id": uid(d.queue_id),
                "agent_id": uid(d.agent_id),
                "at": time(d.at),
                "priority": d.priority,
                "wait_ms": int(d.wait * 1000),
                "target": d.target,
            }
            for d in decisions
        ]
