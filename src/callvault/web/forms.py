"""Turning rejected form input into per-field messages shown next to the form (never a stack trace)."""

from __future__ import annotations

from pydantic import ValidationError

from callvault.core.errors import FieldError


def field_errors(exc: ValidationError) -> list[FieldError]:
    """One message per wrong field, named by its form field; the rejected value itself is never echoed."""
    return [
        FieldError(".".join(str(p) for p in err.get("loc", ())) or "form", str(err.get("msg", "invalid")))
        for err in exc.errors(include_input=False, include_url=False)
    ]
