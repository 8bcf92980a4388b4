"""Idempotency-Key on POST: a retry gets the first response; a different request with the same key is refused."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from callvault.core.db import Database
from callvault.core.tenant_context import set_tenant
from callvault.identity.models import IdempotencyRecord
from tests.fixtures import World


def test_retry_replays_first_response_and_creates_once(world: World, login: Any) -> None:
    s = login(world.institution().accounts["admin"])
    body = {"username": "retry-agent", "password": "Retry-password-123"}
    first = s.post("/api/v1/users", json=body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 201
    again = s.post("/api/v1/users", json=body, headers={"Idempotency-Key": "k-1"})
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers.get("idempotent-replayed") == "true"
    names = [u["username"] for u in s.get("/api/v1/users").json()["items"]]
    assert names.count("retry-agent") == 1
    # Without the key the same request is a real second attempt: conflict.
    assert s.post("/api/v1/users", json=body).status_code == 409


def test_same_key_different_request_is_rejected(world: World, login: Any) -> None:
    s = login(world.institution().accounts["admin"])
    ok = s.post(
        "/api/v1/users",
        json={"username": "a-one", "password": "Retry-password-123"},
        headers={"Idempotency-Key": "k-2"},
    )
    assert ok.status_code == 201
    r = s.post(
        "/api/v1/users",
        json={"username": "a-two", "password": "Retry-password-123"},
        headers={"Idempotency-Key": "k-2"},
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "Idempotency-Key"


def test_error_responses_are_replayed_too(world: World, login: Any) -> None:
    s = login(world.institution().accounts["admin"])
    bad = {"username": "weak", "password": "short"}
    first = s.post("/api/v1/users", json=bad, headers={"Idempotency-Key": "k-3"})
    assert first.status_code == 422
    again = s.post("/api/v1/users", json=bad, headers={"Idempotency-Key": "k-3"})
    assert again.status_code == 422 and again.json()["detail"] == first.json()["detail"]
    assert again.headers["content-type"] == "application/problem+json"


def test_keys_are_per_principal(world: World, login: Any) -> None:
    inst = world.institution()
    one = login(inst.accounts["admin"])
    other = login(world.user(inst.slug, role="admin"))
    body = {"username": "shared-key", "password": "Retry-password-123"}
    assert one.post("/api/v1/users", json=body, headers={"Idempotency-Key": "same"}).status_code == 201
    # Another user's identical key is not a replay of the first user's request.
    assert other.post("/api/v1/users", json=body, headers={"Idempotency-Key": "same"}).status_code == 409


def test_responses_that_show_a_new_secret_are_never_kept_for_replay(world: World, login: Any, db: Database) -> None:
    inst = world.institution()
    s = login(inst.accounts["admin"])
    client = s.post(
        "/api/v1/api-clients",
        json={"name": "core-banking", "permissions": ["user.read"]},
        headers={"Idempotency-Key": "secret-1"},
    )
    assert client.status_code == 201, client.text
    key = s.post("/api/v1/ivr/lookup-key", headers={"Idempotency-Key": "secret-2"})
    assert key.status_code == 201, key.text
    secrets = [client.json()["secret"].encode(), key.json()["secret"].encode()]
    with db.scoped() as session:
        set_tenant(session, inst.id)
        bodies = [b or b"" for b in session.scalars(select(IdempotencyRecord.body))]
    assert not [b for b in bodies if any(secret in b for secret in secrets)]
    # A retry is a new request: it shows a new secret rather than replaying the stored one.
    again = s.post(
        "/api/v1/api-clients",
        json={"name": "core-banking-2", "permissions": ["user.read"]},
        headers={"Idempotency-Key": "secret-1"},
    )
    assert again.status_code == 201 and again.json()["secret"] != client.json()["secret"]
