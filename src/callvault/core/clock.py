"""One clock for the whole application, so time-based rules (idle timeout, lockout, replay windows) are testable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_offset = timedelta(0)


def now() -> datetime:
    """Current UTC time, aware."""
    return datetime.now(UTC) + _offset


def travel(seconds: float) -> None:
    """Move the application clock forward (tests and drills only)."""
    global _offset
    _offset += timedelta(seconds=seconds)


def reset() -> None:
    global _offset
    _offset = timedelta(0)


def as_utc(value: datetime) -> datetime:
    """SQLite returns naive datetimes; every stored time is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)
