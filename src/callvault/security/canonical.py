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


_ENCODER: Final = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def canonical_json(value: Mapping[str, Any]) -> bytes:
    """Sorted keys, no whitespace, UTF-8 (not ASCII-escaped), no NaN."""
    return _ENCODER.encode(value).encode("utf-8")


def format_time(at: datetime) -> str:
    """RFC 3339 in UTC with microseconds, e.g. ``2026-11-23T14:47:16.000123Z``; naive times are refused."""
    if at.tzinfo is UTC:  # the common case, checked first because this runs once per verified record
        return at.isoformat(timespec="microseconds")[:-6] + "Z"
    offset = at.utcoffset()
    if offset is None:
        raise ValueError("audit times must be timezone-aware")
    if offset != _ZERO:
        at = at.astimezone(UTC)
    # isoformat is implemented in C; with a zero offset it always ends in "+00:00".
    return at.isoformat(timespec="microseconds")[:-6] + "Z"


def parse_time(text: str) -> datetime:
    """Inverse of `format_time`."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
