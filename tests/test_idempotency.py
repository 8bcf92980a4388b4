"""Idempotency-Key on POST: a retry gets the first response; a different request with the same key is refused."""

from __future__ import annotations

from typing import Any

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
