"""An institution ready to order calls: an API client holding call.trigger, its webhook secret, a published
verification flow; signed requests; running the worker on the sim engine and the webhook dispatcher."""

from __future__ import annotations

import asyncio
import json
import ssl
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from callvault.core import clock
from callvault.core.db import Database
from callvault.demo import DEMO_FLOW
from callvault.identity.api_clients import signed_headers
from callvault.ivr import service as ivr
from callvault.ivr.flow import parse_document
from callvault.ivr.schemas import FlowCreate
from callvault.security.principal import system_principal
from callvault.telephony.sim import Directory, FarEnd, SimEngine
from callvault.tenancy import service as tenancy
from callvault.trigger.worker import TriggerWorker
from callvault.webhooks.dispatcher import Dispatcher
from callvault.webhooks.retry import RetryPolicy
from tests.fixtures import World

PHONE = "13800138000"
E164 = "+8613800138000"
TRIGGER = "/api/v1/calls/trigger"

# The payment verification flow the demo publishes: press 1 → verified, 2 → refused.
VERIFY_FLOW: dict[str, Any] = DEMO_FLOW


@dataclass
class Bank:
    slug: str
    tenant_id: uuid.UUID
    admin: Any
    creds: dict[str, Any]
    webhook_secret: str


def bank(world: World, login: Any, *, permissions: tuple[str, ...] = ("call.trigger",), secret: bool = True) -> Bank:
    inst = world.institution()
    admin = login(inst.accounts["admin"])
    r = admin.post("/api/v1/api-clients", json={"name": "core-banking", "permissions": list(permissions)})
    assert r.status_code == 201, r.text
    creds = r.json()
    webhook_secret = ""
    if secret:
        r = admin.post("/api/v1/webhooks/secrets", json={"api_client_id": creds["id"]})
        assert r.status_code == 201, r.text
        webhook_secret = r.json()["secret"]
    publish_flow(world.db, inst.slug)
    return Bank(inst.slug, inst.id, admin, creds, webhook_secret)


def publish_flow(db: Database, slug: str, *, name: str = "verify-payment", doc: dict[str, Any] = VERIFY_FLOW) -> None:
    with db.scoped() as session:
        tenant = tenancy.bind(session, slug=slug)
        actor = system_principal(tenant_id=tenant.id, tenant_slug=tenant.slug, tenant_kind=tenant.kind)
        flow = ivr.create_flow(session, actor=actor, data=FlowCreate(name=name, entry_point=f"out-{name}"))
        ivr.save_draft(session, actor=actor, flow_id=flow.id, document=parse_document(doc))
        ivr.publish(session, actor=actor, flow_id=flow.id, prompt_exists=lambda _: True)


def order(callback_url: str, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "purpose": "verification",
        "phone": PHONE,
        "flow": "verify-payment",
        "variables": {"amount": "1999.00"},
        "deadline": (clock.now() + timedelta(minutes=10)).isoformat(),
        "callback_url": callback_url,
        "reference": "txn-42",
    }
    body.update(over)
    return {k: v for k, v in body.items() if v is not None}


def signed_post(
    client: TestClient,
    creds: dict[str, Any],
    payload: dict[str, Any] | bytes,
    *,
    key: str | None = "auto",
    path: str = TRIGGER,
    **over: Any,
) -> Any:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = signed_headers(
        key_id=creds["key_id"], secret=creds["secret"], method="POST", path=path, body=body, **over
    )
    headers["content-type"] = "application/json"
    if key is not None:
        headers["Idempotency-Key"] = uuid.uuid4().hex if key == "auto" else key
    return client.post(path, content=body, headers=headers)


def signed_get(client: TestClient, creds: dict[str, Any], path: str) -> Any:
    headers = signed_headers(key_id=creds["key_id"], secret=creds["secret"], method="GET", path=path)
    return client.get(path, headers=headers)


class SimClock:
    def __init__(self, sim: SimEngine) -> None:
        self.sim = sim

    def now(self) -> float:
        return self.sim.clock.now

    async def sleep(self, seconds: float) -> None:
        await self.sim.sleep(seconds)


def callee(keys: str = "1", *, answer_after: float = 2.0) -> FarEnd:
    return FarEnd(answer_after=answer_after, digits=FarEnd.presses(keys, start=1.0), hangup_after=120.0)


def run_worker(db: Database, tmp_path: Path, tenant_id: uuid.UUID, far_ends: dict[str, FarEnd]) -> TriggerWorker:
    sim = SimEngine(directory=Directory(far_ends), recordings_dir=tmp_path, seed=7)
    worker = TriggerWorker(db, sim, prompt_root=tmp_path, clock=SimClock(sim), ring_timeout=30.0, tenants=[tenant_id])

    async def main() -> None:
        await sim.run(worker.run_once())
        await sim.close()

    asyncio.run(main())
    return worker


def dispatcher(db: Database, context: ssl.SSLContext, tenant_id: uuid.UUID, *, attempts: int = 3) -> Dispatcher:
    # Zero waits between attempts: the test calls one pass per attempt instead of waiting for the schedule.
    policy = RetryPolicy(max_attempts=attempts, base_seconds=0.0, jitter=0.0)
    return Dispatcher(db, policy=policy, allow_private=True, verify=context, timeout=5.0, tenants=[tenant_id])


def deliver(d: Dispatcher) -> int:
    return asyncio.run(d.deliver_due())
