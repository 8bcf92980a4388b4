"""The system principal a background component acts as in each institution, read once per institution."""

from __future__ import annotations

import uuid

from callvault.core.db import Database
from callvault.security.principal import Principal, system_principal
from callvault.tenancy import service as tenancy


class SystemActors:
    """`of(tenant_id)`: the institution's system principal named `name` (what its audit records show)."""

    def __init__(self, db: Database, *, name: str) -> None:
        self.db, self.name = db, name
        self._actors: dict[uuid.UUID, Principal] = {}

    def of(self, tenant_id: uuid.UUID) -> Principal:
        actor = self._actors.get(tenant_id)
        if actor is None:
            with self.db.scoped() as session:
                inst = tenancy.get(session, tenant_id=tenant_id)
                actor = system_principal(
                    tenant_id=inst.id, tenant_slug=inst.slug, tenant_kind=inst.kind, name=self.name
                )
            self._actors[tenant_id] = actor
        return actor
