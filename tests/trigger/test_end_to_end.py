"""Signed trigger -> call on the sim engine -> the flow collects "1" -> signed webhook received and verified."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.fixtures import World
from tests.trigger.helpers import E164, bank, callee, deliver, dispatcher, order, run_worker, signed_get, signed_post
from tests.trigger.receiver import webhook_receiver
from tests.vault_fixtures import PHONE as CONTACT_PHONE
from tests.vault_fixtures import store_contact


@pytest.mark.parametrize(("keys", "result"), [("1", "verified"), ("2", "refused")])
def test_ordered_call_runs_the_flow_and_reports_by_signed_webhook(
    world: World, login: Any, client: TestClient, tmp_path: Path, keys: str, result: str
) -> None:
    b = bank(world, login)
    with webhook_receiver(tmp_path) as hook:
        hook.secret = b.webhook_secret
        accepted = signed_post(client, b.creds, order(hook.url))
        assert accepted.status_code == 202, accepted.text
        request_id = accepted.json()["id"]
        assert accepted.json()["status"] == "accepted" and accepted.json()["phone_masked"] != E164

        worker = run_worker(world.db, tmp_path, b.tenant_id, {f"sip:{E164}@pstn": callee(keys)})
        assert [str(r) for r in worker.placed] == [request_id]

        shown = signed_get(client, b.creds, f"/api/v1/calls/{request_id}")
        assert shown.status_code == 200, shown.text
        call = shown.json()
        assert (call["status"], call["result"], call["keypresses"]) == ("completed", result, [keys])
        assert call["dialled_at"] <= call["answered_at"] <= call["ended_at"] <= call["completed_at"]

        assert deliver(dispatcher(world.db, hook.ssl_context(), b.tenant_id)) == 1
        assert len(hook.received) == 1
        got = hook.received[0]
        assert got.verified and got.msg_id.startswith("msg_")
        assert got.body["type"] == "call.result"
        data = got.body["data"]
        assert (data["id"], data["result"], data["keypresses"], data["reference"]) == (
            request_id,
            result,
            [keys],
            "txn-42",
        )
        assert "phone_masked" not in data and E164 not in str(got.body)

        # Delivered once: another pass sends nothing.
        assert deliver(dispatcher(world.db, hook.ssl_context(), b.tenant_id)) == 0


def test_order_for_a_stored_contact_dials_its_first_number(
    world: World, login: Any, client: TestClient, tmp_path: Path
) -> None:
    b = bank(world, login)
    stored = store_contact(world.db, b.slug)
    accepted = signed_post(
        client, b.creds, order("https://bank.example/hooks", phone=None, contact_id=str(stored.contact_id))
    )
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["phone_masked"].endswith(CONTACT_PHONE[-4:])
    worker = run_worker(world.db, tmp_path, b.tenant_id, {f"sip:{CONTACT_PHONE}@pstn": callee("1")})
    assert len(worker.placed) == 1
    call = signed_get(client, b.creds, f"/api/v1/calls/{accepted.json()['id']}").json()
    assert (call["result"], call["keypresses"]) == ("verified", ["1"])
    other = signed_post(client, b.creds, order("https://bank.example/hooks", phone=None, contact_id=str(uuid.uuid4())))
    assert other.status_code == 404
