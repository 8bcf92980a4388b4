"""Institutions and the operator: queries and action functions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from callvault.core import outbox
from callvault.core.errors import Conflict, InvalidInput, NotFound
from callvault.core.pagination import paginate
from callvault.core.schemas import Page
from callvault.core.tenant_context import current_tenant, set_tenant, tenant
from callvault.core.ttlcache import TtlCache
from callvault.identity import service as identity
from callvault.identity.schemas import UserCreate
from callvault.security import audit
from callvault.security.principal import Principal, system_principal
from callvault.security.vault.runtime import provision_tenant_keys
from callvault.tenancy.models import Tenant, TenantKind, TenantStatus
from callvault.tenancy.schemas import TenantCreate, TenantRead, TenantUpdate

OPERATOR_SLUG = "operator"
RESERVED_SLUGS = frozenset({OPERATOR_SLUG, "api", "admin", "static", "system"})


def get(session: Session, *, tenant_id: uuid.UUID) -> Tenant:
    found = session.get(Tenant, tenant_id)
    if found is None:
        raise NotFound("no such institution")
    return found


def get_by_slug(session: Session, *, slug: str) -> Tenant | None:
    return session.scalars(select(Tenant).where(Tenant.slug == slug)).one_or_none()


@dataclass(frozen=True)
class TenantIdentity:
    """What never changes about a tenant once created (no action renames a slug or deletes a tenant row). Its
    status does change: read it from the row, never from here."""

    id: uuid.UUID
    slug: str
    kind: str


# Keyed by engine as well: a process may serve several databases (tests, the benchmark), each with its own rows.
_identities: TtlCache[tuple[object, str], TenantIdentity] = TtlCache(ttl=300.0)


def identity_by_slug(session: Session, *, slug: str, cached: bool = True) -> TenantIdentity | None:
    """Id, slug and kind of the tenant called `slug`, from a per-process cache (hot paths: signed requests and
    do-not-call look-ups resolve a slug on every request). Unknown slugs are not cached."""
    key = (session.get_bind(), slug)
    found = _identities.get(key) if cached else None
    if found is not None:
        return found
    row = session.execute(select(Tenant.id, Tenant.slug, Tenant.kind).where(Tenant.slug == slug)).one_or_none()
    if row is None:
        return None
    found = TenantIdentity(row.id, row.slug, row.kind)
    _identities.put(key, found)
    return found


def forget_identities() -> None:
    """Drop the cached tenant identities (tests that recreate databases)."""
    _identities.forget()


def operator_id(session: Session) -> uuid.UUID | None:
    """The operator tenant's id (cached: the operator row is created once and never replaced)."""
    found = identity_by_slug(session, slug=OPERATOR_SLUG)
    return found.id if found is not None else None


def current(session: Session) -> Tenant:
    """The tenant the session is bound to."""
    return get(session, tenant_id=current_tenant(session))


def list_tenants(session: Session, *, limit: int, cursor: str | None) -> Page[TenantRead]:
    return paginate(
        session,
        select(Tenant),
        id_column=Tenant.id,
        limit=limit,
        cursor=cursor,
        to_read=TenantRead.model_validate,
    )


def all_tenant_ids(session: Session) -> list[uuid.UUID]:
    return list(session.scalars(select(Tenant.id)).all())


def ensure_operator(session: Session, *, name: str = "Operator") -> Tenant:
    """Create the operator tenant and its built-in roles on first use (idempotent)."""
    op = get_by_slug(session, slug=OPERATOR_SLUG)
    if op is None:
        op = Tenant(slug=OPERATOR_SLUG, name=name, kind=TenantKind.OPERATOR.value)
        session.add(op)
        session.flush()
    # Idempotent: also gives keys to an operator created before the vault existed.
    provision_tenant_keys(session, op.id)
    with tenant(session, op.id):
        identity.seed_builtin_roles(session, tenant_kind=TenantKind.OPERATOR.value)
    session.commit()
    return op


def operator_principal(session: Session, *, name: str = "cli") -> Principal:
    op = ensure_operator(session)
    set_tenant(session, op.id)
    return system_principal(tenant_id=op.id, tenant_slug=op.slug, tenant_kind=op.kind, name=name)


def sync_builtin_roles_everywhere(session: Session) -> int:
    """Update every tenant's built-in roles to the current catalogue (run by `db upgrade`); audited per role."""
    changed = 0
    for tenant_id in all_tenant_ids(session):
        inst = get(session, tenant_id=tenant_id)
        if inst.status in (TenantStatus.OFFBOARDING.value, TenantStatus.OFFBOARDED.value):
            continue  # its rows are being or have been destroyed: nothing may be recreated
        actor = system_principal(tenant_id=inst.id, tenant_slug=inst.slug, tenant_kind=inst.kind, name="upgrade")
        with tenant(session, inst.id):
            changed += identity.sync_builtin_roles(session, actor=actor, tenant_kind=inst.kind)
    return changed


def create_tenant(session: Session, *, actor: Principal, data: TenantCreate) -> TenantRead:
    """Create an institution with its built-in roles and, optionally, its first administrator."""
    actor.require("tenant.manage")
    if data.slug in RESERVED_SLUGS:
        raise InvalidInput.one("slug", "is reserved")
    if get_by_slug(session, slug=data.slug) is not None:
        raise Conflict("an institution with this slug exists")
    _check_settings(data.settings)
    inst = Tenant(slug=data.slug, name=data.name, kind=TenantKind.INSTITUTION.value, settings=data.settings)
    session.add(inst)
    session.flush()
    # The institution's data and index keys are created in the same transaction as the institution itself.
    provision_tenant_keys(session, inst.id)
    with tenant(session, inst.id):
        roles = identity.seed_builtin_roles(session, tenant_kind=inst.kind)
        audit.record(session, actor=actor, action="tenant.create", object_type="tenant", object_id=inst.id)
        if data.initial_admin is not None:
            admin_role = next(r for r in roles if r.name == "admin")
            # The operator sets up the first administrator; from then on the institution manages its own users.
            creator = system_principal(
                tenant_id=inst.id, tenant_slug=inst.slug, tenant_kind=inst.kind, name=actor.actor
            )
            identity.create_user(
                session,
                actor=creator,
                commit=False,
                data=UserCreate(
                    username=data.initial_admin.username,
                    display_name=data.initial_admin.display_name,
                    password=data.initial_admin.password,
                    role_ids=[admin_role.id],
                ),
            )
    audit.record(
        session,
        actor=actor,
        action="tenant.create",
        object_type="tenant",
        object_id=inst.id,
        details={"slug": inst.slug},
    )
    read = TenantRead.model_validate(inst)
    outbox.emit(session, tenant_slug=actor.tenant_slug, name="tenant.created", payload=read.model_dump(mode="json"))
    session.commit()
    return read


def update_tenant(session: Session, *, actor: Principal, tenant_id: uuid.UUID, data: TenantUpdate) -> TenantRead:
    actor.require("tenant.manage")
    inst = get(session, tenant_id=tenant_id)
    if inst.is_operator:
        raise NotFound("no such institution")
    if inst.status in (TenantStatus.OFFBOARDING.value, TenantStatus.OFFBOARDED.value):
        raise Conflict("the institution is being offboarded; it can no longer be changed")
    changed = []
    if data.name is not None:
        inst.name = data.name
        changed.append("name")
    if data.status is not None and data.status != inst.status:
        inst.status = TenantStatus(data.status).value
        changed.append("status")
    if data.settings is not None:
        _check_settings(data.settings)
        inst.settings = data.settings
        changed.append("settings")
    audit.record(
        session,
        actor=actor,
        action="tenant.update",
        object_type="tenant",
        object_id=inst.id,
        details={"changed": changed},
    )
    read = TenantRead.model_validate(inst)
    outbox.emit(session, tenant_slug=actor.tenant_slug, name="tenant.updated", payload=read.model_dump(mode="json"))
    session.commit()
    return read


def _check_settings(settings: dict[str, Any]) -> None:
    """Settings with a meaning are validated (422 naming the setting); other keys are kept as given."""
    from callvault.campaigns.strategy import InstitutionLimits
    from callvault.contacts.live import Minimising
    from callvault.security.retention import RetentionPolicy

    RetentionPolicy.from_settings(settings)
    Minimising.from_settings(settings)
    InstitutionLimits.from_settings(settings)


def bind(session: Session, *, slug: str) -> Tenant:
    """Bind the session to the tenant with this slug (login, CLI), or raise NotFound."""
    found = get_by_slug(session, slug=slug)
    if found is None:
        raise NotFound("no such institution")
    set_tenant(session, found.id)
    return found
