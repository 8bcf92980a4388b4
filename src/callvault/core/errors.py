"""Domain exceptions. `api.py` maps each to an RFC 9457 problem response exactly once."""

from __future__ import annotations

from dataclasses import dataclass


class DomainError(Exception):
    """Base class; `code` names the problem type, `status` the HTTP status."""

    status = 400
    code = "bad-request"
    title = "Bad request"

    def __init__(self, detail: str = "", **extra: object) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra


class NotFound(DomainError):
    status = 404
    code = "not-found"
    title = "Not found"


class PermissionDenied(DomainError):
    status = 403
    code = "permission-denied"
    title = "Permission denied"


class Unauthenticated(DomainError):
    status = 401
    code = "unauthenticated"
    title = "Authentication required"


class Conflict(DomainError):
    status = 409
    code = "conflict"
    title = "Conflict"


@dataclass(frozen=True)
class FieldError:
    field: str
    reason: str


class InvalidInput(DomainError):
    """A request that names the fields that are wrong and why."""

    status = 422
    code = "invalid-input"
    title = "Invalid input"

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e.field}: {e.reason}" for e in errors) or self.title)

    @classmethod
    def one(cls, field_name: str, reason: str) -> InvalidInput:
        return cls([FieldError(field_name, reason)])


class TenantContextMissing(RuntimeError):
    """A query touched a tenant-owned table without a tenant context: a programming error, never data."""
