"""Ordering a call is one transaction: nonce, Idempotency-Key, the request, its audit record and event, and the
stored answer commit together; a failed order still uses its nonce and replays its answer; key material cached
per API client never outlives a revocation, even one made by another process."""

from __future__ import annotations

import json
import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event, select

from callvault.core import secretbox
from callvault.core.db import Database
from callvault.core.outbox_models import OutboxEvent
from callvault.identity import api_clients
from callvault.identity.api_clients import signed_headers
from callvault.identity.models import ApiClient, ApiNonce, IdempotencyRecord
from callvault.security.audit_models import AuditEvent
from callvault.security.principal import system_principal
from callvault.tenancy import service as tenancy
from callvault.trigger.models import CallRequest
from tests.fixtures import World
from tests.trigger.helpers import TRIGGER, bank, order, signed_post

HOOK = "https://bank.example/hooks/calls"


def test_an_order_is_written_in_one_commit_with_its_nonce_audit_event_and_answer(
    world: World, login: Any, client: TestClient
) -> None:
    b = bank(world, login)
    commits: list[int] = []

    def count(_conn: Any) -> None:
        commits.append(1)

    event.listen(world.db.engine, "commit", count)
    try:
        r = signed_post(client, b.creds, order(HOOK, reference="one-commit"), key="one-commit-key")
    finally:
        event.remove(world.db.engine, "commit", count)
    assert r.status_code == 202, r.text
    # The order's transaction and the outbox relay marking its event published: nothing else.
    assert len(commits) <= 2, commits
    request_id = uuid.UUID(r.json()["id"])
    with world.db.scoped() as s:
        tenancy.bind(s, slug=b.slug)
        assert s.get(CallRequest, request_id) is not None
        stored = s.scalars(select(IdempotencyRecord).where(IdempotencyRecord.key == "one-commit-key")).one()
        assert stored.status_code == 202 and json.loads(stored.body or b"") == r.json()
        audit = s.scalars(select(AuditEvent).where(AuditEvent.object_id == str(request_id))).all()
        assert [a.action for a in audit] == ["call.trigger"]
        events = s.scalars(select(OutboxEvent).where(OutboxEvent.name.endswith(".call.requested"))).all()
        assert [e.payload["id"] for e in events] == [str(request_id)]
        assert len(s.scalars(select(ApiNonce).where(ApiNonce.key_id == b.creds["key_id"])).all()) == 1


def test_a_refused_order_uses_its_nonce_and_replays_its_answer(world: World, login: Any, client: TestClient) -> None:
    b = bank(world, login)
    body = json.dumps(order(HOOK, flow="no-such-flow")).encode()
    headers = signed_headers(key_id=b.creds["key_id"], secret=b.creds["secret"], method="POST", path=TRIGGER, body=body)
    headers.update({"content-type": "application/json", "Idempotency-Key": "bad-order"})
    first = client.post(TRIGGER, content=body, headers=headers)
    assert first.status_code == 422, first.text
    # The transaction of the refused order was rolled back: its nonce is still spent...
    replay = client.post(TRIGGER, content=body, headers=headers)
    assert replay.status_code == 401 and "nonce" in replay.json()["detail"]
    # ...and a retry with the same key (new nonce) gets the first answer, not a second evaluation.
    retry = signed_post(client, b.creds, body, key="bad-order")
    assert retry.status_code == 422 and retry.headers.get("Idempotent-Replayed") == "true"
    assert retry.json() == first.json()
    with world.db.scoped() as s:
        tenancy.bind(s, slug=b.slug)
        assert s.scalars(select(CallRequest)).all() == []


def test_a_replay_of_an_accepted_order_creates_nothing_and_spends_its_nonce(
    world: World, login: Any, client: TestClient
) -> None:
    b = bank(world, login)
    payload = order(HOOK)
    first = signed_post(client, b.creds, payload, key="twice")
    body = json.dumps(payload).encode()
    headers = signed_headers(key_id=b.creds["key_id"], secret=b.creds["secret"], method="POST", path=TRIGGER, body=body)
    headers.update({"content-type": "application/json", "Idempotency-Key": "twice"})
    second = client.post(TRIGGER, content=body, headers=headers)
    assert first.status_code == second.status_code == 202
    assert second.json() == first.json() and second.headers.get("Idempotent-Replayed") == "true"
    assert client.post(TRIGGER, content=body, headers=headers).status_code == 401  # that nonce is spent
    with world.db.scoped() as s:
        tenancy.bind(s, slug=b.slug)
        assert len(s.scalars(select(CallRequest)).all()) == 1


def test_a_revoked_client_is_refused_at_once_although_its_key_is_cached(
    world: World, login: Any, client: TestClient
) -> None:
    b = bank(world, login)
    assert signed_post(client, b.creds, order(HOOK)).status_code == 202  # key material now cached
    assert signed_post(client, b.creds, order(HOOK)).status_code == 202
    # Revoked through another engine, as another server process would: this process's cache is not told.
    other = Database(world.db.settings)
    try:
        with other.scoped() as s:
            tenant = tenancy.bind(s, slug=b.slug)
            actor = system_principal(tenant_id=tenant.id, tenant_slug=tenant.slug, tenant_kind=tenant.kind)
            api_clients.revoke_client(s, actor=actor, client_id=uuid.UUID(b.creds["id"]))
    finally:
        other.dispose()
    refused = signed_post(client, b.creds, order(HOOK))
    assert refused.status_code == 401 and refused.json()["detail"] == "unknown key"


def test_cached_key_material_follows_the_sealed_secret(world: World, login: Any, client: TestClient) -> None:
    """A secret replaced in the database (a restore, a rotation) is used at once: the cache is keyed by it."""
    b = bank(world, login)
    assert signed_post(client, b.creds, order(HOOK)).status_code == 202
    with world.db.scoped() as s:
        tenancy.bind(s, slug=b.slug)
        row = s.get(ApiClient, uuid.UUID(b.creds["id"]))
        assert row is not None
        row.secret_sealed = secretbox.seal(b"a-new-secret-of-enough-length-000000", purpose=f"apiclient:{row.id}")
        s.commit()
    assert signed_post(client, b.creds, order(HOOK)).status_code == 401
    renewed = {**b.creds, "secret": "a-new-secret-of-enough-length-000000"}
    assert signed_post(client, renewed, order(HOOK)).status_code == 202
