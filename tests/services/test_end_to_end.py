"""The real app with its services: a signed trigger posted over HTTP ends with the call placed on the sim engine,
its result stored and the signed webhook received by the institution's HTTPS endpoint; shutdown stops the loops."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from callvault.config import Settings
from callvault.core.db import Database
from callvault.identity.api_clients import signed_headers
from tests.fixtures import World
from tests.services.helpers import live_app, service_settings, wait_for
from tests.trigger.helpers import TRIGGER, bank, order
from tests.trigger.receiver import webhook_receiver


def _signed(http: httpx.Client, creds: dict[str, Any], method: str, path: str, body: bytes = b"") -> httpx.Response:
    headers = signed_headers(key_id=creds["key_id"], secret=creds["secret"], method=method, path=path, body=body)
    if method == "POST":
        headers |= {"content-type": "application/json", "Idempotency-Key": uuid.uuid4().hex}
    return http.request(method, path, content=body or None, headers=headers)


def test_served_app_places_an_ordered_call_and_delivers_its_signed_webhook(
    world: World, login: Any, client: TestClient, settings: Settings, tmp_path: Path
) -> None:
    b = bank(world, login)
    with webhook_receiver(tmp_path) as hook:
        hook.secret = b.webhook_secret
        served = service_settings(settings, slug=b.slug, ca_file=hook.ca_file)
        server_db = Database(served)
        with live_app(served, server_db) as live, httpx.Client(base_url=live.url, timeout=30) as http:
            services = live.app.state.services
            assert set(services.host.names) == {"webhooks", "trigger", "campaigns", "rating"}
            accepted = _signed(http, b.creds, "POST", TRIGGER, json.dumps(order(hook.url)).encode())
            assert accepted.status_code == 202, accepted.text
            request_id = accepted.json()["id"]

            wait_for(lambda: hook.received, what="the webhook")
            got = hook.received[0]
            assert got.verified and got.msg_id.startswith("msg_")
            assert got.body["type"] == "call.result"
            assert (got.body["data"]["id"], got.body["data"]["result"], got.body["data"]["keypresses"]) == (
                request_id,
                "verified",  # the simulated callee pressed 1
                ["1"],
            )
            shown = _signed(http, b.creds, "GET", f"/api/v1/calls/{request_id}")
            assert (shown.json()["status"], shown.json()["result"]) == ("completed", "verified")
            assert [str(r) for r in services.trigger.placed] == [request_id]

            metrics = http.get("/metrics").text
            assert 'callvault_service_passes_total{service="trigger"}' in metrics
            assert 'callvault_service_running{service="webhooks"} 1.0' in metrics
        # The lifespan's shutdown stopped every loop.
        for name in ("webhooks", "trigger", "campaigns", "rating"):
            assert REGISTRY.get_sample_value("callvault_service_running", {"service": name}) == 0
        assert len(hook.received) == 1  # delivered once
