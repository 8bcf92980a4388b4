"""API shapes for users, roles, sessions and API clients. Hashes and secrets never appear in a Read model."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import Field

from callvault.core.schemas import ReadModel, StrictInput

Username = Field(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
PermissionName = Field(min_length=3, max_length=60, pattern=r"^[a-z]+(\.[a-z_]+)+$")


class RoleCreate(StrictInput):
    name: str = Field(min_length=2, max_length=60, pattern=r"^[a-z][a-z0-9_-]*$")
    description: str = Field(default="", max_length=300)
    permissions: list[str] = Field(default_factory=list, max_length=100)
    requires_mfa: bool = True


class RoleUpdate(StrictInput):
    description: str | None = Field(default=None, max_length=300)
    permissions: list[str] | None = Field(default=None, max_length=100)
    requires_mfa: bool | None = None


class RoleRead(ReadModel):
    id: uuid.UUID
    name: str
    description: str
    permissions: list[str]
    requires_mfa: bool
    builtin: bool
    created_at: datetime


class RoleRef(ReadModel):
    id: uuid.UUID
    name: str


class UserCreate(StrictInput):
    username: str = Username
    display_name: str = Field(default="", max_length=120)
    password: str = Field(min_length=1, max_length=256)
    role_ids: list[uuid.UUID] = Field(default_factory=list, max_length=20)


class UserUpdate(StrictInput):
    display_name: str | None = Field(default=None, max_length=120)
    status: Literal["active", "disabled"] | None = None
    role_ids: list[uuid.UUID] | None = Field(default=None, max_length=20)
    password: str | None = Field(default=None, min_length=1, max_length=256)


class UserRead(ReadModel):
    id: uuid.UUID
    username: str
    display_name: str
    status: str
    roles: list[RoleRef]
    mfa_enrolled: bool
    locked: bool
    last_login_at: datetime | None
    created_at: datetime


class LoginRequest(StrictInput):
    institution: str = Field(default="", max_length=40, description="institution slug; empty for operator staff")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)
    totp: str | None = Field(default=None, max_length=10)


class LoginResult(ReadModel):
    stage: Literal["full", "enrol_totp"]
    csrf_token: str
    expires_at: datetime


class TotpEnrolment(ReadModel):
    secret: str
    otpauth_uri: str


class TotpConfirm(StrictInput):
    code: str = Field(min_length=6, max_length=6, pattern=r"^\d{6}$")


class Me(ReadModel):
    kind: str
    id: uuid.UUID | None
    name: str
    tenant_id: uuid.UUID
    tenant_slug: str
    tenant_kind: str
    permissions: list[str]


class ApiClientCreate(StrictInput):
    name: str = Field(min_length=1, max_length=120)
    permissions: list[str] = Field(default_factory=list, max_length=50)


class ApiClientRead(ReadModel):
    id: uuid.UUID
    name: str
    key_id: str
    permissions: list[str]
    status: str
    last_used_at: datetime | None
    created_at: datetime


class ApiClientCreated(ApiClientRead):
    secret: str = Field(description="shown once; store it in the institution's secret store")
