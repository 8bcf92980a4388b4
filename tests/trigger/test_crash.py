"""The API server killed with SIGKILL while orders stream in: every order answered 202 is stored with its audit
record, event and stored answer; no order is half written; retries with the same keys end with exactly one
request per key."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import select

from callvault.core.outbox_models import OutboxEvent
from callvault.identity.api_clients import signed_headers
from callvault.identity.models import IdempotencyRecord
from callvault.security.audit_models import AuditEvent
from callvault.tenancy import service as tenancy
from callvault.trigger.models import CallRequest
from tests.fixtures import World
from tests.trigger.helpers import TRIGGER, Bank, bank, order, signed_post

HOOK = "https://bank.example/hooks/calls"
SENDERS = 6


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _server(port: int) -> subprocess.Popen[bytes]:
    code = f"from callvault.trigger.bench import serve; serve('callvault', {port})"
    return subprocess.Popen([sys.executable, "-c", code], env=dict(os.environ), stderr=subprocess.DEVNULL)


def _wait_ready(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, "server exited"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("server did not start")


def _send(url: str, b: Bank, key: str, body: bytes) -> httpx.Response:
    headers = signed_headers(key_id=b.creds["key_id"], secret=b.creds["secret"], method="POST", path=TRIGGER, body=body)
    headers.update({"content-type": "application/json", "Idempotency-Key": key})
    return httpx.post(url, content=body, headers=headers, timeout=30, trust_env=False)


def test_kill_9_while_ordering_loses_no_accepted_order_and_leaves_no_half_written_one(
    world: World, login: Any, client: TestClient
) -> None:
    b = bank(world, login)
    port = _free_port()
    proc = _server(port)
    url = f"http://127.0.0.1:{port}{TRIGGER}"
    answered: dict[str, dict[str, Any]] = {}
    tried: dict[str, bytes] = {}  # key -> the exact body sent (a retry resends it)
    lock = threading.Lock()
    try:
        _wait_ready(port, proc)

        def sender() -> None:
            while True:
                key = f"crash-{uuid.uuid4().hex[:12]}"
                body = json.dumps(order(HOOK, reference=key)).encode()
                with lock:
                    tried[key] = body
                try:
                    r = _send(url, b, key, body)
                except httpx.HTTPError:
                    return  # the server is gone
                assert r.status_code == 202, r.text
                with lock:
                    answered[key] = r.json()

        threads = [threading.Thread(target=sender, daemon=True) for _ in range(SENDERS)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 120
        while len(answered) < 25:
            assert time.monotonic() < deadline, "too few orders answered in time"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)  # with orders in flight on every sender
        proc.wait(timeout=30)
        for t in threads:
            t.join(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert len(tried) > len(answered)

    with world.db.scoped() as s:
        tenancy.bind(s, slug=b.slug)
        requests = {r.reference: r for r in s.scalars(select(CallRequest))}
        records = {r.key: r for r in s.scalars(select(IdempotencyRecord))}
        audited = {a.object_id for a in s.scalars(select(AuditEvent).where(AuditEvent.action == "call.trigger"))}
        evented = {
            e.payload["id"] for e in s.scalars(select(OutboxEvent).where(OutboxEvent.name.endswith(".call.requested")))
        }
    # Every 202 is stored, with its answer byte for byte.
    for key, answer in answered.items():
        assert key in requests, f"accepted order {key} lost"
        assert str(requests[key].id) == answer["id"]
        assert json.loads(records[key].body or b"") == answer
    # Nothing half written: every stored request has its audit record, event and stored answer; no reservation
    # was left without its answer.
    for key, row in requests.items():
        assert str(row.id) in audited and str(row.id) in evented, key
        assert records[key].status_code == 202, key
    assert set(records) == set(requests)

    # The institution retries every order it sent, with the same keys: exactly one request per key.
    for key, body in tried.items():
        retry = signed_post(client, b.creds, body, key=key)
        assert retry.status_code == 202, retry.text
        if key in answered:
            assert retry.json() == answered[key] and retry.headers.get("Idempotent-Replayed") == "true"
    with world.db.scoped() as s:
        tenancy.bind(s, slug=b.slug)
        references = [r.reference for r in s.scalars(select(CallRequest))]
    assert sorted(references) == sorted(tried)
