"""Who is acting: a user, an institution's API client, or the platform itself (CLI, jobs)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from callvault.core.errors import PermissionDenied


@dataclass(frozen=True)
class Principal:
    kind: str  # "user" | "api_client" | "system"
    id: uuid.UUID | None
    name: str
    tenant_id: uuid.UUID
    tenant_slug: str
    tenant_kind: str
    permissions: frozenset[str] = field(default_factory=frozenset)
    source_ip: str = ""
    request_id: str = ""

    @property
    def actor(self) -> str:
        """Stable audit identity: never a name that could be personal data of a customer."""
        return f"{self.kind}:{self.id}" if self.id else f"{self.kind}:{self.name}"

    @property
    def is_operator(self) -> bool:
        return self.tenant_kind == "operator"

    def has(self, permission: str) -> bool:
        return permission in self.permissions

    def require(self, permission: str) -> None:
        if permission not in self.permissions:
            raise PermissionDenied(f"requires permission {permission}")


def system_principal(*, tenant_id: uuid.UUID, tenant_slug: str, tenant_kind: str, name: str = "cli") -> Principal:
    """The platform acting on its own behalf (CLI, scheduled jobs): every permission valid for the tenant."""
    from callvault.identity.permissions import permissions_for

    return Principal(
        kind="system",
        id=None,
        name=name,
        tenant_id=tenant_id,
        tenant_slug=tenant_slug,
        tenant_kind=tenant_kind,
        permissions=permissions_for(tenant_kind),
    )
