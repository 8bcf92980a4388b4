"""Form input of console pages: rejected input as per-field messages (never a stack trace), filter times."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import ValidationError

from callvault.core.errors import FieldError


def field_errors(exc: ValidationError) -> list[FieldError]:
    """One message per wrong field, named by its form field; the rejected value itself is never echoed."""
    return [
        FieldError(".".join(str(p) for p in err.get("loc", ())) or "form", str(err.get("msg", "invalid")))
        for err in exc.errors(include_input=False, include_url=False)
    ]


def utc_time(name: str, raw: str, errors: list[FieldError]) -> datetime | None:
    """A filter time from a datetime-local field (taken as UTC) or an ISO 8601 text; a wrong one joins `errors`."""
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw[:40])
    except ValueError:
        errors.append(FieldError(name, "use the form 2026-12-01T09:30"))
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
