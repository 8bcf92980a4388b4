"""Canonical JSON and timestamps: the exact bytes that audit hashes and checkpoint signatures cover.

An institution re-implements these two functions to verify an export independently, so they stay tiny:
JSON with sorted keys, no whitespace, UTF-8 without ASCII escaping, no NaN; times as RFC 3339 UTC with
exactly six fractional digits and a ``Z``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

_ZERO: Final = timedelta(0)


def canonical_json(value: Mapping[str, Any]) -> bytes:
    """Sorted keys, no whitespace, UTF-8 (not ASCII-escaped), no NaN."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8")


def format_time(at: datetime) -> str:
    """RFC 3339 in UTC with microseconds, e.g. ``2026-11-23T14:47:16.000123Z``; naive times are refused."""
    offset = at.utcoffset()
    if offset is None:
        raise ValueError("audit times must be timezone-aware")
    if offset != _ZERO:
        at = at.astimezone(UTC)
    return (
        f"{at.year:04d}-{at.month:02d}-{at.day:02d}T"
        f"{at.hour:02d}:{at.minute:02d}:{at.second:02d}.{at.microsecond:06d}Z"
    )


def parse_time(text: str) -> datetime:
    """Inverse of `format_time`."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
