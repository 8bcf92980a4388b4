"""The trigger API's door: signatures, Idempotency-Key, the strict schema, do-not-call refusals."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from callvault.core import clock
from callvault.identity.api_clients import signed_headers
from tests.fixtures import World
from tests.trigger.helpers import TRIGGER, bank, order, signed_get, signed_post

HOOK = "https://bank.example/hooks/calls"


def _problem(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    return body


def test_signature_timestamp_nonce_and_idempotency_key_are_enforced(
    world: World, login: Any, client: TestClient
) -> None:
    b = bank(world, login)
    body = json.dumps(order(HOOK)).encode()
    # body changed after signing
    headers = signed_headers(key_id=b.creds["key_id"], secret=b.creds["secret"], method="POST", path=TRIGGER, body=body)
    tampered = body.replace(b"13800138000", b"13800138999")
    r = client.post(TRIGGER, content=tampered, headers={**headers, "Idempotency-Key": "k1"})
    assert _problem(r, 401)["type"] == "urn:callvault:problem:bad-signature"
    # stale timestamp
    stale = int(clock.now().timestamp()) - 301
    assert _problem(signed_post(client, b.creds, body, timestamp=stale), 401)["detail"].startswith("timestamp")
    # reused nonce
    first = signed_post(client, b.creds, body, nonce="nonce-used-once-0001")
    assert first.status_code == 202, first.text
    again = signed_post(client, b.creds, body, nonce="nonce-used-once-0001")
    assert "nonce" in _problem(again, 401)["detail"]
    # no Idempotency-Key
    missing = _problem(signed_post(client, b.creds, body, key=None), 428)
    assert missing["type"] == "urn:callvault:problem:idempotency-key-required"
    # a browser session, even an admin's, cannot order calls
    r = b.admin.post(TRIGGER, json=order(HOOK), headers={"Idempotency-Key": "k2"})
    assert _problem(r, 403)["type"] == "urn:callvault:problem:permission-denied"


def test_same_idempotency_key_returns_the_first_result(world: World, login: Any, client: TestClient) -> None:
    b = bank(world, login)
    payload = order(HOOK)
    first = signed_post(client, b.creds, payload, key="order-7")
    second = signed_post(client, b.creds, payload, key="order-7")
    assert first.status_code == second.status_code == 202
    assert second.json() == first.json() and second.headers.get("Idempotent-Replayed") == "true"
    other = signed_post(client, b.creds, order(HOOK, reference="other"), key="order-7")
    assert _problem(other, 422)["errors"][0]["field"] == "Idempotency-Key"


def test_client_without_the_permission_or_a_webhook_secret_is_refused(
    world: World, login: Any, client: TestClient
) -> None:
    no_perm = bank(world, login, permissions=("user.read",))
    assert signed_post(client, no_perm.creds, order(HOOK)).status_code == 403
    no_secret = bank(world, login, secret=False)
    assert "webhook" in _problem(signed_post(client, no_secret.creds, order(HOOK)), 409)["detail"]


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"surprise": 1}, "surprise"),
        ({"callback_url": "http://bank.example/hooks"}, "callback_url"),
        ({"callback_url": "https://user:pw@bank.example/hooks"}, "callback_url"),
        ({"callback_url": "not a url"}, "callback_url"),
        ({"purpose": "spam"}, "purpose"),
        ({"phone": "119"}, "phone"),
        ({"phone": None}, "body"),
        ({"contact_id": "0190c1e4-8e3a-7000-8000-000000000000"}, "body"),
        ({"queue": "cards"}, "body"),
        ({"flow": None}, "body"),
        ({"flow": "no-such-flow"}, "flow"),
        ({"variables": {}}, "variables"),
        ({"variables": {"amount": {"nested": 1}}}, "variables.amount"),
        ({"variables": {"amount": "x" * 201}}, "variables.amount"),
        ({"variables": {"amount": "1", "result": "verified"}}, "variables"),
        ({"variables": {"Bad-Name": "1"}}, "variables.Bad-Name"),
        ({"deadline": "2026-01-01T00:00:00"}, "deadline"),
        ({"deadline": (clock.now() - timedelta(seconds=1)).isoformat()}, "deadline"),
        ({"deadline": (clock.now() + timedelta(days=8)).isoformat()}, "deadline"),
    ],
)
def test_bad_orders_are_refused_with_the_field_named(
    world: World, login: Any, client: TestClient, over: dict[str, Any], field: str
) -> None:
    b = bank(world, login)
    payload = order(HOOK)
    for key, value in over.items():
        if value is None:
            payload.pop(key, None)
        else:
            payload[key] = value
    problem = _problem(signed_post(client, b.creds, payload), 422)
    fields = [e["field"] for e in problem["errors"]]
    assert any(f == field or f.startswith(field + ".") for f in fields), fields


def test_malformed_json_is_a_400(world: World, login: Any, client: TestClient) -> None:
    b = bank(world, login)
    assert _problem(signed_post(client, b.creds, b'{"purpose": '), 400)["type"].endswith("malformed-json")


def test_number_on_the_do_not_call_list_is_refused_with_the_reason_and_never_dialled(
    world: World, login: Any, client: TestClient
) -> None:
    b = bank(world, login)
    r = b.admin.post("/api/v1/dnc", json={"phone": "13800138000", "all_purposes": True, "reason": "customer request"})
    assert r.status_code == 201, r.text
    refused = signed_post(client, b.creds, order(HOOK))
    assert refused.status_code == 202, refused.text
    call = refused.json()
    assert (call["status"], call["result"], call["reason"]) == ("refused", "refused", "do_not_call")
    shown = signed_get(client, b.creds, f"/api/v1/calls/{call['id']}").json()
    assert shown["status"] == "refused"
    # Marketing needs consent: refused with that reason.
    r = signed_post(client, b.creds, order(HOOK, purpose="marketing", phone="13800138111"))
    assert (r.json()["status"], r.json()["reason"]) == ("refused", "no_consent")


def test_unknown_request_id_is_404(world: World, login: Any, client: TestClient) -> None:
    b = bank(world, login)
    r = signed_get(client, b.creds, "/api/v1/calls/0190c1e4-8e3a-7000-8000-000000000000")
    assert _problem(r, 404)["type"] == "urn:callvault:problem:not-found"
