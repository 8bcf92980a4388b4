"""Identity tables. Users, roles and API clients belong to exactly one tenant (the operator or an institution)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from callvault.core.models import Base, Identified, TenantScoped


class Role(Identified, TenantScoped, Base):
    __tablename__ = "roles"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_roles_tenant_name"),)

    name: Mapped[str] = mapped_column(String(60))
    description: Mapped[str] = mapped_column(String(300), default="")
    permissions: Mapped[list[str]] = mapped_column(default=list)
    requires_mfa: Mapped[bool] = mapped_column(default=False)
    builtin: Mapped[bool] = mapped_column(default=False)


class UserRole(TenantScoped, Base):
    __tablename__ = "user_roles"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class User(Identified, TenantScoped, Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("tenant_id", "username", name="uq_users_tenant_username"),)

    username: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(120), default="")
    status: Mapped[str] = mapped_column(String(16), default="active")
    password_hash: Mapped[str] = mapped_column(String(200))
    # Hashes of the previous passwords, newest first, so a change cannot reuse any of the last four.
    password_history: Mapped[list[str]] = mapped_column(default=list)
    password_changed_at: Mapped[datetime | None] = mapped_column(default=None)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(default=None)
    totp_secret: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    totp_confirmed: Mapped[bool] = mapped_column(default=False)
    totp_last_step: Mapped[int] = mapped_column(default=0)
    last_login_at: Mapped[datetime | None] = mapped_column(default=None)

    roles: Mapped[list[Role]] = relationship(secondary="user_roles", lazy="selectin", order_by=Role.name)


class AuthSession(Identified, Base):
    """A browser session. Platform table: it is found by its token before any tenant is known."""

    __tablename__ = "auth_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    # "full" or "enrol_totp": a user who must use two factors but has none yet may only enrol.
    stage: Mapped[str] = mapped_column(String(16), default="full")
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    source_ip: Mapped[str] = mapped_column(String(64), default="")


class ApiClient(Identified, TenantScoped, Base):
    """An institution system that calls the API with HMAC-signed requests."""

    __tablename__ = "api_clients"

    name: Mapped[str] = mapped_column(String(120))
    key_id: Mapped[str] = mapped_column(String(100), unique=True)
    secret_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    permissions: Mapped[list[str]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(16), default="active")
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)


class ApiNonce(TenantScoped, Base):
    """Nonces seen within the signature window; the primary key makes a replay fail to insert."""

    __tablename__ = "api_nonces"
    __table_args__ = (Index("ix_api_nonces_seen", "tenant_id", "seen_at"),)

    key_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    seen_at: Mapped[datetime]


class IdempotencyRecord(Identified, TenantScoped, Base):
    """The first response to a POST with an Idempotency-Key, replayed for retries of the same request."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("tenant_id", "principal", "key", name="uq_idempotency_records_principal_key"),)

    principal: Mapped[str] = mapped_column(String(120))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(default=None)
    body: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
