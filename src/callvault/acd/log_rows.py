"""Driver-level rows for the batched log inserts.

The routing log is written at thousands of rows a second; going through the driver's executemany with values
already in the stored form (SQLite: hex UUIDs and UTC text times, as SQLAlchemy stores them; PostgreSQL: native
values) costs a fraction of per-row type processing. The tables and columns are the ORM models' own.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

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


def _insert(table: str, columns: Sequence[str], mark: str) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"  # noqa: S608


class LogRows:
    """Encodes state changes and decisions for one dialect."""

    def __init__(self, dialect: str) -> None:
        self.sqlite = dialect == "sqlite"
        mark = "?" if self.sqlite else "%s"
        self.state_sql = _insert("acd_agent_state_log", _STATE_COLUMNS, mark)
        self.decision_sql = _insert("acd_routing_decisions", _DECISION_COLUMNS, mark)
        self._second = -1
        self._prefix = ""

    def uid(self, value: uuid.UUID | None) -> object:
        if value is None:
            return None
        return value.hex if self.sqlite else value

    def time(self, seconds: float) -> object:
        if not self.sqlite:
            return datetime.fromtimestamp(seconds, UTC)
        whole = int(seconds)
        if whole != self._second:  # times arrive in order, so one cached second serves most rows
            self._second = whole
            self._prefix = datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%d %H:%M:%S")
        return f"{self._prefix}.{int((seconds - whole) * 1_000_000):06d}"

    def state_rows(self, tenant_id: uuid.UUID, changes: list[StateChange]) -> list[tuple[object, ...]]:
        tenant, uid, time = self.uid(tenant_id), self.uid, self.time
        return [
            (
                tenant,
                c.seq,
                uid(c.agent_id),
                c.state.value,
                c.reason,
                uid(c.call_id),
                time(c.at),
                time(c.idle_since) if c.idle_since is not None else None,
            )
            for c in changes
        ]

    def decision_rows(self, tenant_id: uuid.UUID, decisions: list[Decision]) -> list[tuple[object, ...]]:
        tenant, uid, time = self.uid(tenant_id), self.uid, self.time
        return [
            (
                tenant,
                d.seq,
                d.kind,
                uid(d.call_id),
                uid(d.queue_id),
                uid(d.agent_id),
                time(d.at),
                d.priority,
                int(d.wait * 1000),
                d.target,
            )
            for d in decisions
        ]
