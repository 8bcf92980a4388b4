"""Login with password and TOTP, lockout, server-side sessions with idle and absolute timeouts."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.orm import Session

from callvault.config import get_settings
from callvault.core import clock, secretbox
from callvault.core.errors import DomainError, PermissionDenied, Unauthenticated
from callvault.core.tenant_context import set_tenant
from callvault.identity import passwords, totp
from callvault.identity import service as identity
from callvault.identity.models import AuthSession, User
from callvault.identity.schemas import LoginRequest, TotpEnrolment
from callvault.security import audit
from callvault.security.principal import Principal
from callvault.tenancy import service as tenancy
from callvault.tenancy.models import Tenant, TenantStatus

STAGE_FULL = "full"
# Recording activity at most this often keeps reads from turning into writes; the idle timeout is exact to it.
SESSION_TOUCH_SECONDS = 15
STAGE_ENROL = "enrol_totp"


class InvalidCredentials(Unauthenticated):
    code = "invalid-credentials"
    title = "Invalid credentials"


class TotpRequired(Unauthenticated):
    code = "totp-required"
    title = "A one-time code from the authenticator is required"


class AccountLocked(PermissionDenied):
    code = "account-locked"
    title = "Account locked after repeated failures; try again later"


class AccountDisabled(PermissionDenied):
    code = "account-disabled"
    title = "Account or institution disabled"


class SessionExpired(Unauthenticated):
    code = "session-expired"
    title = "Session expired; log in again"


class TotpEnrolmentRequired(PermissionDenied):
    code = "totp-enrolment-required"
    title = "Enrol a second factor before using the console"


@dataclass(frozen=True)
class IssuedSession:
    token: str
    csrf_token: str
    stage: str
    expires_at: datetime


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _anonymous(tenant: Tenant | None, *, source_ip: str, request_id: str, username: str) -> Principal:
    """Actor for audit records of failed logins. The claimed username is not kept: people type passwords, phone
    numbers or ID numbers into that field by mistake, and the audit trail must never hold such a value."""
    del username
    return Principal(
        kind="anonymous",
        id=None,
        name="login",
        tenant_id=tenant.id if tenant else uuid.UUID(int=0),
        tenant_slug=tenant.slug if tenant else "",
        tenant_kind=tenant.kind if tenant else "",
        source_ip=source_ip,
        request_id=request_id,
    )


def _fail(
    session: Session,
    tenant: Tenant,
    actor: Principal,
    reason: str,
    error: DomainError,
    user: User | None = None,
) -> DomainError:
    settings = get_settings()
    if user is not None and reason in ("password", "totp"):
        user.failed_logins += 1
        if user.failed_logins >= settings.lockout_threshold:
            user.locked_until = clock.now() + timedelta(seconds=settings.lockout_seconds)
            audit.record(
                session,
                actor=actor,
                action="auth.lockout",
                object_type="user",
                object_id=user.id,
                outcome="failure",
            )
    audit.record(
        session,
        actor=actor,
        action="auth.login",
        object_type="user",
        object_id=user.id if user else "",
        outcome="failure",
        details={"reason": reason},
    )
    session.commit()
    return error


def login(session: Session, *, data: LoginRequest, source_ip: str, request_id: str) -> IssuedSession:
    """Check password (and TOTP when the user's roles demand it); issue a session or raise a problem."""
    slug = data.institution or tenancy.OPERATOR_SLUG
    tenant = tenancy.get_by_slug(session, slug=slug)
    anon = _anonymous(tenant, source_ip=source_ip, request_id=request_id, username=data.username)
    if tenant is None:
        passwords.burn_verification_time()
        tenancy.ensure_operator(session)
        op = tenancy.bind(session, slug=tenancy.OPERATOR_SLUG)
        raise _fail(
            session,
            op,
            _anonymous(op, source_ip=source_ip, request_id=request_id, username=""),
            "unknown institution",
            InvalidCredentials(),
        )
    set_tenant(session, tenant.id)
    user = identity.get_user_by_username(session, username=data.username)
    if user is None:
        passwords.burn_verification_time()
        raise _fail(session, tenant, anon, "unknown user", InvalidCredentials())
    actor = _user_principal(tenant, user, source_ip=source_ip, request_id=request_id)
    password_ok = passwords.verify_password(user.password_hash, data.password)
    if user.locked_until is not None and user.locked_until > clock.now():
        # Only someone who knows the password learns that the account is locked.
        raise _fail(session, tenant, actor, "locked", AccountLocked() if password_ok else InvalidCredentials())
    if not password_ok:
        raise _fail(session, tenant, actor, "password", InvalidCredentials(), user)
    if user.status != "active" or tenant.status != TenantStatus.ACTIVE.value:
        raise _fail(session, tenant, actor, "disabled", AccountDisabled())
    stage = STAGE_FULL
    if user.totp_confirmed and user.totp_secret is not None:
        if not data.totp:
            raise _fail(session, tenant, actor, "totp missing", TotpRequired())
        secret = secretbox.unseal(user.totp_secret, purpose=f"totp:{user.id}").decode()
        step = totp.matching_step(secret, data.totp, last_used_step=user.totp_last_step)
        if step is None:
            raise _fail(session, tenant, actor, "totp", InvalidCredentials(), user)
        user.totp_last_step = step
    elif identity.requires_mfa(user):
        stage = STAGE_ENROL
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = clock.now()
    issued = _issue(session, tenant=tenant, user=user, stage=stage, source_ip=source_ip)
    audit.record(
        session,
        actor=actor,
        action="auth.login",
        object_type="user",
        object_id=user.id,
        details={"stage": stage},
    )
    session.commit()
    return issued


def _issue(session: Session, *, tenant: Tenant, user: User, stage: str, source_ip: str) -> IssuedSession:
    settings = get_settings()
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    now = clock.now()
    expires = now + timedelta(seconds=settings.session_absolute_seconds)
    if tenant.settings.get("single_session", False):
        # Home-agent rule of some institutions: a new login ends every other session of the account.
        session.execute(
            update(AuthSession)
            .where(AuthSession.user_id == user.id, AuthSession.revoked_at.is_(None))
            .values(revoked_at=now)
        )
    session.add(
        AuthSession(
            token_hash=_token_hash(token),
            tenant_id=tenant.id,
            user_id=user.id,
            csrf_token=csrf,
            stage=stage,
            last_seen_at=now,
            expires_at=expires,
            source_ip=source_ip,
        )
    )
    return IssuedSession(token=token, csrf_token=csrf, stage=stage, expires_at=expires)


@dataclass(frozen=True)
class SessionPrincipal:
    principal: Principal
    auth_session_id: uuid.UUID
    csrf_token: str
    stage: str


def resolve_session(
    session: Session, *, token: str, source_ip: str, request_id: str, touch: bool = True
) -> SessionPrincipal:
    """Find a live session by its token, enforce idle and absolute timeouts, bind the tenant, touch it.

    ``touch=False`` for a page's own timed refresh: it is served but is not the user's activity, so an unattended
    screen still reaches the idle timeout."""
    settings = get_settings()
    auth = session.scalars(select(AuthSession).where(AuthSession.token_hash == _token_hash(token))).one_or_none()
    now = clock.now()
    if auth is None or auth.revoked_at is not None:
        raise Unauthenticated("not logged in")
    idle = now - auth.last_seen_at > timedelta(seconds=settings.session_idle_seconds)
    if idle or now > auth.expires_at:
        auth.revoked_at = now
        set_tenant(session, auth.tenant_id)
        expired_actor = Principal(
            kind="user",
            id=auth.user_id,
            name="",
            tenant_id=auth.tenant_id,
            tenant_slug="",
            tenant_kind="",
            source_ip=source_ip,
            request_id=request_id,
        )
        audit.record(
            session,
            actor=expired_actor,
            action="auth.session_expired",
            object_type="user",
            object_id=auth.user_id,
            outcome="failure",
            details={"reason": "idle" if idle else "lifetime"},
        )
        session.commit()
        raise SessionExpired()
    tenant = tenancy.get(session, tenant_id=auth.tenant_id)
    set_tenant(session, tenant.id)
    user = session.get(User, auth.user_id)
    if user is None or user.status != "active" or tenant.status != TenantStatus.ACTIVE.value:
        raise AccountDisabled()
    if touch and now - auth.last_seen_at > timedelta(seconds=SESSION_TOUCH_SECONDS):
        auth.last_seen_at = now
    session.commit()
    principal = _user_principal(tenant, user, source_ip=source_ip, request_id=request_id)
    return SessionPrincipal(principal=principal, auth_session_id=auth.id, csrf_token=auth.csrf_token, stage=auth.stage)


def _user_principal(tenant: Tenant, user: User, *, source_ip: str, request_id: str) -> Principal:
    return Principal(
        kind="user",
        id=user.id,
        name=user.username,
        tenant_id=tenant.id,
        tenant_slug=tenant.slug,
        tenant_kind=tenant.kind,
        permissions=identity.effective_permissions(user),
        source_ip=source_ip,
        request_id=request_id,
    )


def logout(session: Session, *, actor: Principal, auth_session_id: uuid.UUID) -> None:
    auth = session.get(AuthSession, auth_session_id)
    if auth is not None and auth.revoked_at is None:
        auth.revoked_at = clock.now()
    audit.record(session, actor=actor, action="auth.logout", object_type="user", object_id=actor.id or "")
    session.commit()


def start_totp_enrolment(session: Session, *, actor: Principal) -> TotpEnrolment:
    """Generate a new (unconfirmed) TOTP secret for the current user."""
    user = identity.get_user(session, user_id=_user_id(actor))
    if user.totp_confirmed:
        raise PermissionDenied("a second factor is already enrolled; an administrator can reset it")
    secret = totp.new_secret()
    user.totp_secret = secretbox.seal(secret.encode(), purpose=f"totp:{user.id}")
    audit.record(session, actor=actor, action="auth.mfa_enrol_start", object_type="user", object_id=user.id)
    session.commit()
    return TotpEnrolment(
        secret=secret,
        otpauth_uri=totp.provisioning_uri(secret, account=f"{actor.tenant_slug}:{user.username}"),
    )


def provision_totp(session: Session, *, actor: Principal, user_id: uuid.UUID) -> str:
    """Enrol a second factor on a user's behalf (seeding, supervised onboarding); returns the secret to hand over.

    Audited like every change of credentials; the secret itself never reaches the audit trail or the logs.
    """
    actor.require("user.manage")
    user = identity.get_user(session, user_id=user_id)
    secret = totp.new_secret()
    user.totp_secret = secretbox.seal(secret.encode(), purpose=f"totp:{user.id}")
    user.totp_confirmed = True
    audit.record(session, actor=actor, action="user.mfa_provision", object_type="user", object_id=user.id)
    session.commit()
    return secret


def confirm_totp_enrolment(session: Session, *, actor: Principal, auth_session_id: uuid.UUID, code: str) -> None:
    user = identity.get_user(session, user_id=_user_id(actor))
    if user.totp_confirmed or user.totp_secret is None:
        raise PermissionDenied("no enrolment in progress")
    secret = secretbox.unseal(user.totp_secret, purpose=f"totp:{user.id}").decode()
    step = totp.matching_step(secret, code, last_used_step=user.totp_last_step)
    if step is None:
        audit.record(
            session,
            actor=actor,
            action="auth.mfa_enrol",
            object_type="user",
            object_id=user.id,
            outcome="failure",
        )
        session.commit()
        raise InvalidCredentials("the code does not match")
    user.totp_confirmed = True
    user.totp_last_step = step
    auth = session.get(AuthSession, auth_session_id)
    if auth is not None:
        auth.stage = STAGE_FULL
    audit.record(session, actor=actor, action="auth.mfa_enrol", object_type="user", object_id=user.id)
    session.commit()


def _user_id(actor: Principal) -> uuid.UUID:
    if actor.kind != "user" or actor.id is None:
        raise PermissionDenied("only users have a second factor")
    return actor.id


def disable_inactive_users(session: Session, *, actor: Principal, inactive_days: int) -> list[uuid.UUID]:
    """Disable the current tenant's accounts unused for `inactive_days` (PCI DSS 8.2.6: 90 days)."""
    actor.require("user.manage")
    cutoff = clock.now() - timedelta(days=inactive_days)
    stale = [
        u
        for u in session.scalars(select(User).where(User.status == "active"))
        if (u.last_login_at or u.created_at) < cutoff
    ]
    for user in stale:
        user.status = "disabled"
        audit.record(
            session,
            actor=actor,
            action="user.disable_inactive",
            object_type="user",
            object_id=user.id,
            details={"inactive_days": inactive_days},
        )
    session.commit()
    return [u.id for u in stale]


def end_tenant_sessions(session: Session, *, tenant_id: uuid.UUID) -> int:
    """Delete every browser session of a tenant being offboarded (its users can no longer log in anyway)."""
    result = session.execute(delete(AuthSession).where(AuthSession.tenant_id == tenant_id))
    return int(cast("CursorResult[Any]", result).rowcount)
