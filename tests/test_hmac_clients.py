"""HMAC-signed requests of an institution's API clients."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from callvault.core import clock
from callvault.identity.api_clients import signed_headers
from tests.fixtures import World

pytestmark = pytest.mark.sec("SEC-47")


def _client(world: World, login: Any, permissions: list[str]) -> tuple[Any, dict[str, Any]]:
    inst = world.institution()
    admin = login(inst.accounts["admin"])
    r = admin.post("/api/v1/api-clients", json={"name": "core-banking", "permissions": permissions})
    assert r.status_code == 201, r.text
    return admin, r.json()


def _signed(
    client: TestClient, creds: dict[str, Any], method: str, path: str, body: bytes = b"", query: str = "", **over: Any
) -> Any:
    headers = signed_headers(
        key_id=creds["key_id"], secret=creds["secret"], method=method, path=path, query=query, body=body, **over
    )
    url = path + (f"?{query}" if query else "")
    return client.request(method, url, content=body, headers={**headers, "content-type": "application/json"})


def test_signed_request_authenticates_and_is_limited_to_its_permissions(
    world: World, login: Any, client: TestClient
) -> None:
    _, creds = _client(world, login, ["user.read"])
    assert creds["key_id"].startswith("cvk.") and len(creds["secret"]) >= 32
    me = _signed(client, creds, "GET", "/api/v1/auth/me")
    assert me.status_code == 200, me.text
    assert me.json()["kind"] == "api_client" and me.json()["permissions"] == ["user.read"]
    assert _signed(client, creds, "GET", "/api/v1/users", query="limit=5").status_code == 200
    assert _signed(client, creds, "GET", "/api/v1/roles").status_code == 403


def test_tampering_skew_replay_and_revocation_are_rejected(world: World, login: Any, client: TestClient) -> None:
    admin, creds = _client(world, login, ["user.read", "user.manage"])
    body = json.dumps({"username": "batch-bot", "password": "Batch-password-123"}).encode()
    # body changed after signing
    headers = signed_headers(
        key_id=creds["key_id"], secret=creds["secret"], method="POST", path="/api/v1/users", body=body
    )
    r = client.post(
        "/api/v1/users",
        content=body.replace(b"batch-bot", b"evil-bot"),
        headers={**headers, "content-type": "application/json"},
    )
    assert r.status_code == 401 and r.json()["type"] == "urn:callvault:problem:bad-signature"
    # path and query tampering
    headers = signed_headers(
        key_id=creds["key_id"], secret=creds["secret"], method="GET", path="/api/v1/users", query="limit=1"
    )
    assert client.get("/api/v1/users?limit=2", headers=headers).status_code == 401
    # timestamp outside the window, either way
    now = int(clock.now().timestamp())
    assert _signed(client, creds, "GET", "/api/v1/auth/me", timestamp=now - 301).status_code == 401
    # (+310 and -290: the check runs a moment after `now` was read, seconds later on a loaded machine)
    assert _signed(client, creds, "GET", "/api/v1/auth/me", timestamp=now + 310).status_code == 401
    assert _signed(client, creds, "GET", "/api/v1/auth/me", timestamp=now - 290).status_code == 200
    # replayed nonce
    headers = signed_headers(key_id=creds["key_id"], secret=creds["secret"], method="GET", path="/api/v1/auth/me")
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
    replay = client.get("/api/v1/auth/me", headers=headers)
    assert replay.status_code == 401 and "nonce" in replay.json()["detail"]
    # wrong secret, unknown key, missing headers
    assert _signed(client, {**creds, "secret": "x" * 43}, "GET", "/api/v1/auth/me").status_code == 401
    assert (
        _signed(client, {**creds, "key_id": "cvk.nosuchbank.0123456789abcdef"}, "GET", "/api/v1/auth/me").status_code
        == 401
    )
    assert client.get("/api/v1/auth/me", headers={"X-CallVault-Key": creds["key_id"]}).status_code == 401
    # a correct signed write works, then revocation stops the key
    assert _signed(client, creds, "POST", "/api/v1/users", body=body).status_code == 201
    assert admin.post(f"/api/v1/api-clients/{creds['id']}/revoke").status_code == 200
    assert _signed(client, creds, "GET", "/api/v1/auth/me").status_code == 401


def test_operator_and_agents_cannot_create_api_clients(world: World, login: Any) -> None:
    op = login(world.operator_user())
    assert op.post("/api/v1/api-clients", json={"name": "x"}).status_code == 403
    inst = world.institution(roles=("agent",))
    agent = login(inst.accounts["agent"])
    assert agent.post("/api/v1/api-clients", json={"name": "x"}).status_code == 403


def test_api_client_cannot_be_given_more_than_its_creator_holds(world: World, login: Any) -> None:
    inst = world.institution()
    admin = login(inst.accounts["admin"])
    r = admin.post("/api/v1/api-clients", json={"name": "x", "permissions": ["recording.download"]})
    assert r.status_code == 403
    r = admin.post("/api/v1/api-clients", json={"name": "x", "permissions": ["tenant.manage"]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "permissions"
