"""Webhook deliveries: retries with backoff, the dead-letter list, manual redelivery, nothing lost in a crash."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from callvault.core import clock
from callvault.core.db import Database
from callvault.core.tenant_context import set_tenant
from callvault.webhooks import service as webhooks
from callvault.webhooks import signing
from callvault.webhooks.models import WebhookDelivery
from callvault.webhooks.retry import DEFAULT_POLICY, RetryPolicy
from tests.fixtures import World
from tests.trigger.helpers import Bank, bank, deliver, dispatcher
from tests.trigger.receiver import closed_port_url, verify_standard_webhook, webhook_receiver


def _queue(db: Database, b: Bank, url: str, payload: dict[str, Any] | None = None) -> uuid.UUID:
    with db.scoped() as session:
        set_tenant(session, b.tenant_id)
        row = webhooks.enqueue(
            session,
            api_client_id=uuid.UUID(b.creds["id"]),
            url=url,
            event_type="call.result",
            payload=payload or {"type": "call.result", "data": {"n": 1}},
        )
        session.commit()
        return row.id


def _row(db: Database, b: Bank, delivery_id: uuid.UUID) -> WebhookDelivery:
    with db.scoped() as session:
        set_tenant(session, b.tenant_id)
        row = session.get(WebhookDelivery, delivery_id)
        assert row is not None
        session.expunge(row)
        return row


def test_signature_matches_the_specification_example() -> None:
    # The example of the Standard Webhooks specification (its reference libraries' test vector).
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    msg_id, timestamp = "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330
    body = b'{"test": 2432232314}'
    assert signing.sign(secret, msg_id=msg_id, timestamp=timestamp, body=body) == (
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )
    headers = signing.headers(secret, msg_id=msg_id, timestamp=timestamp, body=body)
    assert verify_standard_webhook(secret, headers, body, now=timestamp + 10)
    assert not verify_standard_webhook(secret, headers, body + b" ", now=timestamp + 10)
    assert not verify_standard_webhook(secret, headers, body, now=timestamp + 301)


def test_retry_schedule_is_exponential_with_bounded_jitter() -> None:
    rng = random.Random(1)
    nominal = [5.0, 20.0, 80.0, 320.0, 1280.0, 5120.0, 20480.0]
    for failures, expected in enumerate(nominal, start=1):
        delay = DEFAULT_POLICY.delay_after(failures, rng)
        assert delay is not None and expected * 0.8 <= delay <= expected * 1.2
    assert DEFAULT_POLICY.delay_after(DEFAULT_POLICY.max_attempts, rng) is None
    assert RetryPolicy(cap_seconds=60, jitter=0).delay_after(7) == 60


def test_endpoint_down_gets_retries_then_dead_letter_then_manual_redelivery(
    world: World, login: Any, tmp_path: Path
) -> None:
    b = bank(world, login)
    delivery_id = _queue(world.db, b, closed_port_url())
    with webhook_receiver(tmp_path) as hook:
        hook.secret = b.webhook_secret
        d = dispatcher(world.db, hook.ssl_context(), b.tenant_id, attempts=3)
        assert deliver(d) == 1
        row = _row(world.db, b, delivery_id)
        assert (row.status, row.attempts) == ("pending", 1) and row.last_error.startswith("unreachable")
        assert deliver(d) == 1 and deliver(d) == 1
        row = _row(world.db, b, delivery_id)
        assert (row.status, row.attempts) == ("dead", 3) and row.dead_at is not None
        assert deliver(d) == 0  # dead letters are not retried on their own

        dead = b.admin.get("/api/v1/webhooks/dead-letters").json()["items"]
        assert [x["id"] for x in dead] == [str(delivery_id)]
        assert dead[0]["webhook_id"] == f"msg_{delivery_id.hex}" and dead[0]["attempts"] == 3

        # The institution fixed its endpoint: point the delivery there and redeliver by hand.
        with world.db.scoped() as session:
            set_tenant(session, b.tenant_id)
            session.execute(update(WebhookDelivery).where(WebhookDelivery.id == delivery_id).values(url=hook.url))
            session.commit()
        r = b.admin.post(f"/api/v1/webhooks/deliveries/{delivery_id}/redeliver")
        assert r.status_code == 200 and r.json()["status"] == "pending", r.text
        assert b.admin.post(f"/api/v1/webhooks/deliveries/{delivery_id}/redeliver").status_code == 409
        assert deliver(d) == 1
        assert [(m.msg_id, m.verified) for m in hook.received] == [(f"msg_{delivery_id.hex}", True)]
        assert b.admin.get(f"/api/v1/webhooks/deliveries/{delivery_id}").json()["status"] == "delivered"
        assert b.admin.get("/api/v1/webhooks/dead-letters").json()["items"] == []


def test_error_status_is_retried_and_a_later_success_delivers(world: World, login: Any, tmp_path: Path) -> None:
    b = bank(world, login)
    with webhook_receiver(tmp_path) as hook:
        hook.secret, hook.status = b.webhook_secret, 503
        delivery_id = _queue(world.db, b, hook.url)
        d = dispatcher(world.db, hook.ssl_context(), b.tenant_id, attempts=5)
        deliver(d)
        assert _row(world.db, b, delivery_id).last_status_code == 503
        hook.status = 204
        deliver(d)
        row = _row(world.db, b, delivery_id)
        assert (row.status, row.attempts) == ("delivered", 2)
        # The same webhook-id both times: the receiver can dedupe.
        assert {m.msg_id for m in hook.received} == {f"msg_{delivery_id.hex}"} and len(hook.received) == 2


def test_a_crash_mid_send_loses_nothing(world: World, login: Any, tmp_path: Path) -> None:
    b = bank(world, login)
    with webhook_receiver(tmp_path) as hook:
        hook.secret = b.webhook_secret
        delivery_id = _queue(world.db, b, hook.url)
        # A sender claimed the delivery and died before recording anything.
        with world.db.scoped() as session:
            set_tenant(session, b.tenant_id)
            assert webhooks.claim_due(session, limit=10, hold=timedelta(seconds=70)) == [delivery_id]
        d = dispatcher(world.db, hook.ssl_context(), b.tenant_id)
        assert deliver(d) == 0  # held by the dead sender for now
        clock.travel(71)
        try:
            assert deliver(d) == 1
        finally:
            clock.reset()
        assert _row(world.db, b, delivery_id).status == "delivered" and hook.received[0].verified


def test_secret_is_shown_once_and_sealed_at_rest(world: World, login: Any) -> None:
    b = bank(world, login)
    with world.db.scoped() as session:
        set_tenant(session, b.tenant_id)
        from callvault.webhooks.models import WebhookSecret

        sealed = session.scalars(select(WebhookSecret.secret_sealed)).one()
    assert b.webhook_secret.startswith("whsec_") and b.webhook_secret.encode() not in sealed
    # Rotating replaces it; only admins of the institution may.
    r = b.admin.post("/api/v1/webhooks/secrets", json={"api_client_id": b.creds["id"]})
    assert r.status_code == 201 and r.json()["secret"] != b.webhook_secret
    op = login(world.operator_user())
    assert op.post("/api/v1/webhooks/secrets", json={"api_client_id": b.creds["id"]}).status_code == 403
