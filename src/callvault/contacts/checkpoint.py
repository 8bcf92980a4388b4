"""Import checkpoints: where a crashed import resumes so that no row is lost or counted twice."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from callvault.contacts.readers.base import Position


@dataclass(frozen=True)
class Checkpoint:
    """State after a batch: the reader position past its last row, the counters, and the error report's
    size. A sink stores it in the same transaction as the batch's contacts; resuming from it re-reads
    nothing that was counted and skips nothing that was not."""

    position: Position
    total: int = 0
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    report_offset: int | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable form (for a database column or a file)."""
        return {
            "offset": self.position.offset,
            "line": self.position.line,
            "total": self.total,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "duplicates": self.duplicates,
            "report_offset": self.report_offset,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Checkpoint:
        """Inverse of `to_json`."""
        return cls(
            position=Position(int(raw["offset"]), int(raw["line"])),
            total=int(raw["total"]),
            accepted=int(raw["accepted"]),
            rejected=int(raw["rejected"]),
            duplicates=int(raw["duplicates"]),
            report_offset=None if raw.get("report_offset") is None else int(raw["report_offset"]),
        )
