"""Fixtures that build real objects through the action functions and log in through the real API."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pyotp
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from callvault.config import Settings
from callvault.core import clock
from callvault.core.db import Database
from callvault.identity import auth
from callvault.identity import service as identity
from callvault.identity.models import Role
from callvault.identity.schemas import UserCreate
from callvault.main import create_app
from callvault.security.principal import Principal, system_principal
from callvault.tenancy import service as tenancy
from callvault.tenancy.schemas import TenantCreate

PASSWORD = "Correct-horse-42-battery"


def unique_slug(prefix: str = "t") -> str:
    # A letter in the middle: ten random hex digits are all decimal about once in a hundred slugs, and the audit
    # trail then refuses the slug as a phone-like value.
    random = uuid.uuid4().hex
    return f"{prefix}{random[:5]}x{random[5:10]}"


def totp_now(secret: str) -> str:
    return pyotp.TOTP(secret).at(clock.now())


@dataclass
class Account:
    tenant_slug: str
    username: str
    password: str
    user_id: uuid.UUID
    totp_secret: str | None


@dataclass
class Institution:
    id: uuid.UUID
    slug: str
    accounts: dict[str, Account] = field(default_factory=dict)


class World:
    """Creates institutions and users directly through the action functions."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def operator_actor(self) -> tuple[Principal, uuid.UUID]:
        with self.db.scoped() as session:
            op = tenancy.ensure_operator(session)
            return system_principal(tenant_id=op.id, tenant_slug=op.slug, tenant_kind=op.kind), op.id

    def institution(self, *, roles: tuple[str, ...] = ("admin",), slug: str | None = None) -> Institution:
        slug = slug or unique_slug()
        with self.db.scoped() as session:
            actor = tenancy.operator_principal(session)
            read = tenancy.create_tenant(session, actor=actor, data=TenantCreate(slug=slug, name=f"Bank {slug}"))
        inst = Institution(id=read.id, slug=slug)
        for role in roles:
            inst.accounts[role] = self.user(slug, role=role)
        return inst

    def user(
        self,
        tenant_slug: str,
        *,
        role: str,
        username: str | None = None,
        enrol_totp: bool = True,
        password: str = PASSWORD,
    ) -> Account:
        username = username or f"{role.replace('_', '-')}-{uuid.uuid4().hex[:6]}"
        with self.db.scoped() as session:
            inst = tenancy.bind(session, slug=tenant_slug)
            actor = system_principal(tenant_id=inst.id, tenant_slug=inst.slug, tenant_kind=inst.kind)
            role_row = session.scalars(select(Role).where(Role.name == role)).one()
            read = identity.create_user(
                session, actor=actor, data=UserCreate(username=username, password=password, role_ids=[role_row.id])
            )
            secret = None
            if enrol_totp and role_row.requires_mfa:
                secret = auth.provision_totp(session, actor=actor, user_id=read.id)
        return Account(
            tenant_slug=tenant_slug, username=username, password=password, user_id=read.id, totp_secret=secret
        )

    def operator_user(self, *, role: str = "platform_admin") -> Account:
        self.operator_actor()
        return self.user(tenancy.OPERATOR_SLUG, role=role)


class ApiSession:
    """A logged-in browser-like client: session cookie plus the CSRF header on writes."""

    def __init__(self, client: TestClient, csrf: str) -> None:
        self.client = client
        self.csrf = csrf

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        headers = dict(kwargs.pop("headers", {}) or {})
        if method.upper() in ("POST", "PUT", "PATCH", "DELETE"):
            headers.setdefault("X-CSRF-Token", self.csrf)
        return self.client.request(method, url, headers=headers, **kwargs)

    def get(self, url: str, **kw: Any) -> Any:
        return self.request("GET", url, **kw)

    def post(self, url: str, **kw: Any) -> Any:
        return self.request("POST", url, **kw)

    def put(self, url: str, **kw: Any) -> Any:
        return self.request("PUT", url, **kw)

    def patch(self, url: str, **kw: Any) -> Any:
        return self.request("PATCH", url, **kw)

    def delete(self, url: str, **kw: Any) -> Any:
        return self.request("DELETE", url, **kw)


@pytest.fixture(scope="session")
def app(settings: Settings, db: Database) -> FastAPI:
    return create_app(settings, db=db)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="https://testserver") as c:
        yield c


@pytest.fixture
def world(db: Database) -> World:
    return World(db)


@pytest.fixture
def login(app: FastAPI):  # type: ignore[no-untyped-def]
    """login(account) -> ApiSession, through POST /api/v1/auth/login with the current TOTP code."""
    clients: list[TestClient] = []

    def _login(account: Account) -> ApiSession:
        c = TestClient(app, base_url="https://testserver")
        clients.append(c)
        body: dict[str, Any] = {
            "institution": "" if account.tenant_slug == tenancy.OPERATOR_SLUG else account.tenant_slug,
            "username": account.username,
            "password": account.password,
        }
        if account.totp_secret:
            body["totp"] = totp_now(account.totp_secret)
        r = c.post("/api/v1/auth/login", json=body)
        assert r.status_code == 200, r.text
        return ApiSession(c, r.json()["csrf_token"])

    yield _login
    for c in clients:
        c.close()
