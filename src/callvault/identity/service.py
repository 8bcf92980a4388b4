"""Users and roles of one tenant: queries and action functions (row + audit + event in one transaction)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from callvault.core import clock, outbox
from callvault.core.errors import Conflict, FieldError, InvalidInput, NotFound, PermissionDenied
from callvault.core.pagination import paginate
from callvault.core.schemas import Page
from callvault.identity import passwords
from callvault.identity.models import Role, User, UserRole
from callvault.identity.permissions import builtin_roles, permissions_for
from callvault.identity.schemas import (
    RoleCreate,
    RoleRead,
    RoleRef,
    RoleUpdate,
    UserCreate,
    UserRead,
    UserUpdate,
)
from callvault.security import audit
from callvault.security.principal import Principal


def user_read(user: User) -> UserRead:
    locked = user.locked_until is not None and user.locked_until > clock.now()
    return UserRead(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        status=user.status,
        roles=[RoleRef(id=r.id, name=r.name) for r in user.roles],
        mfa_enrolled=user.totp_confirmed,
        locked=locked,
        last_login_at=user.last_login_at,
        created_at=user.created_at,
    )


# --- queries -------------------------------------------------------------------------------------------------


def get_user(session: Session, *, user_id: uuid.UUID) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("no such user")
    return user


def get_user_by_username(session: Session, *, username: str) -> User | None:
    return session.scalars(select(User).where(User.username == username)).one_or_none()


def list_users(session: Session, *, limit: int, cursor: str | None) -> Page[UserRead]:
    return paginate(session, select(User), id_column=User.id, limit=limit, cursor=cursor, to_read=user_read)


def get_role(session: Session, *, role_id: uuid.UUID) -> Role:
    role = session.get(Role, role_id)
    if role is None:
        raise NotFound("no such role")
    return role


def list_roles(session: Session, *, limit: int, cursor: str | None) -> Page[RoleRead]:
    return paginate(
        session, select(Role), id_column=Role.id, limit=limit, cursor=cursor, to_read=RoleRead.model_validate
    )


def effective_permissions(user: User) -> frozenset[str]:
    return frozenset(p for r in user.roles for p in r.permissions)


def requires_mfa(user: User) -> bool:
    return any(r.requires_mfa for r in user.roles)


# --- helpers for actions -------------------------------------------------------------------------------------


def _check_permissions(names: list[str], *, tenant_kind: str, field_name: str) -> list[str]:
    allowed = permissions_for(tenant_kind)
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise InvalidInput([FieldError(field_name, f"unknown or not grantable here: {', '.join(unknown)}")])
    return sorted(set(names))


def _resolve_roles(session: Session, *, actor: Principal, role_ids: list[uuid.UUID]) -> list[Role]:
    roles = list(session.scalars(select(Role).where(Role.id.in_(role_ids))).all()) if role_ids else []
    if len(roles) != len(set(role_ids)):
        # A role id of another tenant is invisible here, exactly like a missing one.
        audit.record(
            session,
            actor=actor,
            action="role.assign",
            outcome="denied",
            details={"reason": "unknown role id"},
        )
        session.commit()
        raise InvalidInput.one("role_ids", "unknown role id")
    for role in roles:
        missing = set(role.permissions) - actor.permissions
        if missing and _delegable_builtin(role):
            # The platform defines built-in roles, so handing out "agent" or "supervisor" is staffing, not an
            # escalation crafted by the admin; admins cannot take them themselves (update_user refuses).
            continue
        if missing and actor.kind != "system":
            audit.record(
                session,
                actor=actor,
                action="role.assign",
                object_type="role",
                object_id=role.id,
                outcome="denied",
                details={"reason": "escalation"},
            )
            session.commit()
            raise PermissionDenied(f"cannot grant role {role.name}: it holds permissions you do not have")
    return roles


def _delegable_builtin(role: Role) -> bool:
    """Built-in roles an institution's user manager may assign: all but those reading the audit trail, which
    stay with the operator's onboarding (separation of duties between administration and audit)."""
    return role.builtin and "audit.read" not in role.permissions


def _set_roles(session: Session, user: User, roles: list[Role]) -> None:
    for link in session.scalars(select(UserRole).where(UserRole.user_id == user.id)).all():
        session.delete(link)
    session.flush()
    for role in roles:
        session.add(UserRole(user_id=user.id, role_id=role.id))
    session.flush()
    session.refresh(user, ["roles"])


# --- actions -------------------------------------------------------------------------------------------------


def seed_builtin_roles(session: Session, *, tenant_kind: str) -> list[Role]:
    """Create the built-in roles in the current tenant (idempotent). Part of the caller's transaction."""
    existing = {r.name: r for r in session.scalars(select(Role)).all()}
    roles = []
    for spec in builtin_roles(tenant_kind):
        role = existing.get(spec.name)
        if role is None:
            role = Role(
                name=spec.name,
                description=spec.description,
                permissions=sorted(spec.permissions),
                requires_mfa=spec.requires_mfa,
                builtin=True,
            )
            session.add(role)
        roles.append(role)
    session.flush()
    return roles


def sync_builtin_roles(session: Session, *, actor: Principal, tenant_kind: str) -> int:
    """Bring the current tenant's built-in roles to the catalogue's definition (after an upgrade adds
    permissions); returns how many roles changed. Built-in roles are never edited by users, so this overwrites.
    Part of the caller's transaction."""
    changed = 0
    specs = {spec.name: spec for spec in builtin_roles(tenant_kind)}
    for role in seed_builtin_roles(session, tenant_kind=tenant_kind):
        wanted = sorted(specs[role.name].permissions)
        if role.permissions == wanted:
            continue
        added, removed = sorted(set(wanted) - set(role.permissions)), sorted(set(role.permissions) - set(wanted))
        role.permissions = wanted
        audit.record(
            session,
            actor=actor,
            action="role.builtin_sync",
            object_type="role",
            object_id=role.id,
            details={"added": added, "removed": removed},
        )
        changed += 1
    return changed


def create_user(session: Session, *, actor: Principal, data: UserCreate, commit: bool = True) -> UserRead:
    actor.require("user.manage")
    if get_user_by_username(session, username=data.username) is not None:
        raise Conflict("a user with this username exists")
    passwords.check_policy(data.password, username=data.username, previous_hashes=[])
    roles = _resolve_roles(session, actor=actor, role_ids=data.role_ids)
    user = User(
        username=data.username,
        display_name=data.display_name,
        password_hash=passwords.hash_password(data.password),
        password_changed_at=clock.now(),
    )
    session.add(user)
    session.flush()
    _set_roles(session, user, roles)
    audit.record(
        session,
        actor=actor,
        action="user.create",
        object_type="user",
        object_id=user.id,
        details={"roles": [r.name for r in roles]},
    )
    read = user_read(user)
    outbox.emit(session, tenant_slug=_slug(session, actor), name="user.created", payload=read.model_dump(mode="json"))
    if commit:
        session.commit()
    return read


def update_user(session: Session, *, actor: Principal, user_id: uuid.UUID, data: UserUpdate) -> UserRead:
    actor.require("user.manage")
    user = get_user(session, user_id=user_id)
    changed: list[str] = []
    if data.display_name is not None:
        user.display_name = data.display_name
        changed.append("display_name")
    if data.status is not None and data.status != user.status:
        if user.id == actor.id and data.status == "disabled":
            raise InvalidInput.one("status", "you cannot disable your own account")
        user.status = data.status
        changed.append("status")
    if data.role_ids is not None:
        if user.id == actor.id and actor.kind != "system":
            raise PermissionDenied("you cannot change your own roles")
        _set_roles(session, user, _resolve_roles(session, actor=actor, role_ids=data.role_ids))
        changed.append("roles")
    if data.password is not None:
        history = [user.password_hash, *user.password_history]
        passwords.check_policy(data.password, username=user.username, previous_hashes=history)
        user.password_hash = passwords.hash_password(data.password)
        user.password_history = history[: passwords.HISTORY]
        user.password_changed_at = clock.now()
        changed.append("password")
    audit.record(
        session,
        actor=actor,
        action="user.update",
        object_type="user",
        object_id=user.id,
        details={"changed": changed},
    )
    read = user_read(user)
    outbox.emit(session, tenant_slug=_slug(session, actor), name="user.updated", payload=read.model_dump(mode="json"))
    session.commit()
    return read


def reset_totp(session: Session, *, actor: Principal, user_id: uuid.UUID) -> UserRead:
    """Remove a user's second factor (lost phone); the next login must enrol again."""
    actor.require("user.manage")
    user = get_user(session, user_id=user_id)
    user.totp_secret = None
    user.totp_confirmed = False
    audit.record(session, actor=actor, action="user.mfa_reset", object_type="user", object_id=user.id)
    read = user_read(user)
    outbox.emit(session, tenant_slug=_slug(session, actor), name="user.mfa_reset", payload={"id": str(user.id)})
    session.commit()
    return read


def create_role(session: Session, *, actor: Principal, data: RoleCreate) -> RoleRead:
    actor.require("role.manage")
    perms = _check_permissions(data.permissions, tenant_kind=_kind(session, actor), field_name="permissions")
    if session.scalars(select(Role).where(Role.name == data.name)).first() is not None:
        raise Conflict("a role with this name exists")
    _no_escalation(actor, perms)
    role = Role(name=data.name, description=data.description, permissions=perms, requires_mfa=data.requires_mfa)
    session.add(role)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="role.create",
        object_type="role",
        object_id=role.id,
        details={"permissions": perms},
    )
    read = RoleRead.model_validate(role)
    outbox.emit(session, tenant_slug=_slug(session, actor), name="role.created", payload=read.model_dump(mode="json"))
    session.commit()
    return read


def update_role(session: Session, *, actor: Principal, role_id: uuid.UUID, data: RoleUpdate) -> RoleRead:
    actor.require("role.manage")
    role = get_role(session, role_id=role_id)
    if role.builtin:
        raise Conflict("built-in roles cannot be changed; create a new role instead")
    if data.permissions is not None:
        perms = _check_permissions(data.permissions, tenant_kind=_kind(session, actor), field_name="permissions")
        _no_escalation(actor, perms)
        role.permissions = perms
    if data.description is not None:
        role.description = data.description
    if data.requires_mfa is not None:
        role.requires_mfa = data.requires_mfa
    audit.record(
        session,
        actor=actor,
        action="role.update",
        object_type="role",
        object_id=role.id,
        details={"permissions": role.permissions},
    )
    read = RoleRead.model_validate(role)
    outbox.emit(session, tenant_slug=_slug(session, actor), name="role.updated", payload=read.model_dump(mode="json"))
    session.commit()
    return read


def delete_role(session: Session, *, actor: Principal, role_id: uuid.UUID) -> None:
    actor.require("role.manage")
    role = get_role(session, role_id=role_id)
    if role.builtin:
        raise Conflict("built-in roles cannot be deleted")
    if session.scalars(select(UserRole).where(UserRole.role_id == role.id)).first() is not None:
        raise Conflict("the role is still assigned to users")
    session.delete(role)
    audit.record(session, actor=actor, action="role.delete", object_type="role", object_id=role_id)
    outbox.emit(session, tenant_slug=_slug(session, actor), name="role.deleted", payload={"id": str(role_id)})
    session.commit()


def _no_escalation(actor: Principal, perms: list[str]) -> None:
    missing = set(perms) - actor.permissions
    if missing and actor.kind != "system":
        raise PermissionDenied("a role cannot hold permissions you do not have: " + ", ".join(sorted(missing)))


def _slug(session: Session, actor: Principal) -> str:
    from callvault.tenancy import service as tenancy

    return tenancy.current(session).slug


def _kind(session: Session, actor: Principal) -> str:
    from callvault.tenancy import service as tenancy

    return tenancy.current(session).kind
