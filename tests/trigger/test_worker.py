"""Executing ordered calls: not reached, deadline passed, a dead worker's call, no call placed twice."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import update

from callvault.core import clock
from callvault.core.tenant_context import set_tenant
from callvault.telephony.sim import FarEnd
from callvault.trigger import service
from callvault.trigger.models import CallRequest
from tests.fixtures import World
from tests.trigger.helpers import E164, bank, callee, order, run_worker, signed_get, signed_post

HOOK = "https://bank.example/hooks/calls"


def _result(client: TestClient, creds: dict[str, Any], request_id: str) -> tuple[str, str | None, str]:
    call = signed_get(client, creds, f"/api/v1/calls/{request_id}").json()
    return call["status"], call["result"], call["reason"]


def test_busy_and_unanswered_numbers_are_not_reached(
    world: World, login: Any, client: TestClient, tmp_path: Path
) -> None:
    b = bank(world, login)
    busy = signed_post(client, b.creds, order(HOOK, phone="13800138001")).json()["id"]
    silent = signed_post(client, b.creds, order(HOOK, phone="13800138002")).json()["id"]
    unknown = signed_post(client, b.creds, order(HOOK, phone="13800138003")).json()["id"]
    far_ends = {
        "sip:+8613800138001@pstn": FarEnd(reject_code=486),
        "sip:+8613800138002@pstn": FarEnd(answer_probability=0.0),
    }
    run_worker(world.db, tmp_path, b.tenant_id, far_ends)
    assert _result(client, b.creds, busy) == ("completed", "not_reached", "busy")
    assert _result(client, b.creds, silent) == ("completed", "not_reached", "no_answer")
    assert _result(client, b.creds, unknown) == ("completed", "failed", "failed")


def test_deadline_passed_fails_without_dialling(world: World, login: Any, client: TestClient, tmp_path: Path) -> None:
    b = bank(world, login)
    request_id = signed_post(client, b.creds, order(HOOK)).json()["id"]
    clock.travel(11 * 60)  # the order allowed 10 minutes
    try:
        worker = run_worker(world.db, tmp_path, b.tenant_id, {f"sip:{E164}@pstn": callee("1")})
    finally:
        clock.reset()
    assert worker.placed == []
    assert _result(client, b.creds, request_id) == ("completed", "failed", "deadline_passed")


def test_call_of_a_dead_worker_is_reported_failed_and_never_placed_again(
    world: World, login: Any, client: TestClient, tmp_path: Path
) -> None:
    b = bank(world, login)
    request_id = uuid.UUID(signed_post(client, b.creds, order(HOOK)).json()["id"])
    # A worker claimed it (and may have dialled), then died: its lease runs out.
    with world.db.scoped() as session:
        set_tenant(session, b.tenant_id)
        assert service.claim(session, request_id=request_id, lease=timedelta(seconds=60)) is not None
    worker = run_worker(world.db, tmp_path, b.tenant_id, {f"sip:{E164}@pstn": callee("1")})
    assert worker.placed == []  # still within the lease: left alone
    assert _result(client, b.creds, str(request_id))[0] == "dialling"
    clock.travel(61)
    try:
        worker = run_worker(world.db, tmp_path, b.tenant_id, {f"sip:{E164}@pstn": callee("1")})
    finally:
        clock.reset()
    assert worker.placed == []
    assert _result(client, b.creds, str(request_id)) == ("completed", "failed", "interrupted")


def test_a_request_is_claimed_once(world: World, login: Any, client: TestClient) -> None:
    b = bank(world, login)
    request_id = uuid.UUID(signed_post(client, b.creds, order(HOOK)).json()["id"])
    with world.db.scoped() as first, world.db.scoped() as second:
        set_tenant(first, b.tenant_id)
        set_tenant(second, b.tenant_id)
        assert service.claim(first, request_id=request_id, lease=timedelta(minutes=5)) is not None
        assert service.claim(second, request_id=request_id, lease=timedelta(minutes=5)) is None


def test_flow_unpublished_since_the_order_fails_without_dialling(
    world: World, login: Any, client: TestClient, tmp_path: Path
) -> None:
    b = bank(world, login)
    request_id = signed_post(client, b.creds, order(HOOK)).json()["id"]
    with world.db.scoped() as session:
        set_tenant(session, b.tenant_id)
        session.execute(update(CallRequest).where(CallRequest.id == uuid.UUID(request_id)).values(flow="gone"))
        session.commit()
    worker = run_worker(world.db, tmp_path, b.tenant_id, {f"sip:{E164}@pstn": callee("1")})
    assert worker.placed == []
    assert _result(client, b.creds, request_id) == ("completed", "failed", "flow_unpublished")
