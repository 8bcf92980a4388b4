"""Live statistics through the real app: the definitions (service level, ASA, abandon rate) on a scripted day, the
counters surviving a rebuild of the owner, and the wallboard stream (pushes on change, at most N a second)."""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from datetime import datetime
from typing import Any

import pytest
from fastapi import FastAPI

from callvault.acd.owner import AcdOwners
from callvault.core import clock
from callvault.core.db import Database
from tests.acd.live import center, owner
from tests.fixtures import ApiSession, World


def by_name(stats: dict[str, Any], name: str) -> dict[str, Any]:
    return next(q for q in stats["queues"] if q["name"] == name)


def test_service_level_asa_and_abandon_rate_of_a_scripted_day(
    app: FastAPI, world: World, login: Any, db: Database
) -> None:
    c = center(world, login, agents={"ann": {"cards": 5}}, queues={"cards": {"service_level_seconds": 20}})
    ann, ann_id, sup = c.sessions["ann"], c.agents["ann"].user_id, c.supervisor
    routing = owner(app, c.bank)
    queue = c.queues["cards"]
    first, second, third = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    ann.post("/api/v1/agents/me/state", json={"state": "ready"})
    routing.enqueue(first, queue_id=queue)  # offered at once
    clock.travel(5)
    routing.accept(agent_id=ann_id, call_id=first)  # answered after 5 s: within the 20 s target
    routing.enqueue(second, queue_id=queue)
    routing.enqueue(third, queue_id=queue)
    clock.travel(30)
    during = sup.get("/api/v1/acd/stats").json()
    cards = by_name(during, "cards")
    assert cards["calls_waiting"] == 2
    assert cards["longest_wait_seconds"] == pytest.approx(30, abs=1)
    assert cards["agents_by_state"]["talking"] == 1
    routing.abandon(third)  # hung up after 30 s
    routing.finish_call(first)
    clock.travel(5)
    ann.post("/api/v1/agents/me/wrap-up", json={"disposition": "resolved"})  # ready: the second call rings
    routing.accept(agent_id=ann_id, call_id=second)  # answered after 35 s: outside the target

    stats = sup.get("/api/v1/acd/stats").json()
    cards = by_name(stats, "cards")
    assert cards["offered_today"] == 3
    assert cards["answered_today"] == 2
    assert cards["answered_within_target_today"] == 1
    assert cards["service_level"] == pytest.approx(1 / 3, abs=1e-3)
    assert cards["asa_seconds"] == pytest.approx((5 + 35) / 2, abs=1)
    assert cards["abandoned_today"] == 1
    assert cards["abandon_rate"] == pytest.approx(1 / 3, abs=1e-3)
    assert cards["calls_waiting"] == 0 and cards["longest_wait_seconds"] == 0
    agent = next(a for a in stats["agents"] if a["agent_id"] == str(ann_id))
    assert agent["state"] == "talking" and agent["calls_handled_today"] == 2
    assert agent["seconds_in_state"] == pytest.approx(0, abs=1)

    # A restarted process rebuilds today's counters from the decision log.
    rebuilt = AcdOwners(db, tick_seconds=0).of(c.bank.id, c.bank.slug).stats()
    assert {k: by_name(rebuilt, "cards")[k] for k in ("offered_today", "answered_today", "abandoned_today")} == {
        "offered_today": 3,
        "answered_today": 2,
        "abandoned_today": 1,
    }
    assert by_name(rebuilt, "cards")["answered_within_target_today"] == 1


def test_stats_need_the_report_permission(world: World, login: Any) -> None:
    c = center(world, login, agents={"ann": {"cards": 5}}, queues={})
    assert c.sessions["ann"].get("/api/v1/acd/stats").status_code == 403
    assert c.sessions["ann"].get("/api/v1/acd/stats/stream", params={"max_events": 1}).status_code == 403


def _read_stream(session: ApiSession, params: dict[str, Any], out: list[str]) -> threading.Thread:
    def read() -> None:
        r = session.get("/api/v1/acd/stats/stream", params=params)
        assert r.headers["content-type"].startswith("text/event-stream")
        out.append(r.text)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def _events(body: str) -> list[dict[str, Any]]:
    out = []
    for block in body.split("\n\n"):
        lines = block.splitlines()
        if lines and lines[0] == "event: stats":
            out.append(json.loads(lines[1].removeprefix("data: ")))
    return out


def _wait_for_listener(app: FastAPI, tenant_id: uuid.UUID) -> None:
    owners: AcdOwners = app.state.acd
    deadline = time.monotonic() + 10
    while owners.hub.listeners(tenant_id) == 0:
        assert time.monotonic() < deadline, "the stream never subscribed"
        time.sleep(0.01)


def test_stream_pushes_a_snapshot_on_change(app: FastAPI, world: World, login: Any) -> None:
    c = center(world, login, agents={"ann": {"cards": 5}}, queues={"cards": {}})
    body: list[str] = []
    reader = _read_stream(c.supervisor, {"max_events": 2}, body)
    _wait_for_listener(app, c.bank.id)
    c.sessions["ann"].post("/api/v1/agents/me/state", json={"state": "ready"})
    reader.join(10)
    assert not reader.is_alive()
    first, second = _events(body[0])
    ann = str(c.agents["ann"].user_id)
    assert [a["state"] for a in first["agents"] if a["agent_id"] == ann] == ["logged_out"]
    assert [a["state"] for a in second["agents"] if a["agent_id"] == ann] == ["ready"]
    assert by_name(second, "cards")["agents_by_state"]["ready"] == 1


def test_stream_pushes_at_most_n_a_second_however_busy(app: FastAPI, world: World, login: Any) -> None:
    c = center(world, login, agents={"ann": {"cards": 5}}, queues={"cards": {}})
    ann = c.sessions["ann"]
    body: list[str] = []
    reader = _read_stream(c.supervisor, {"max_events": 4, "per_second": 4}, body)
    _wait_for_listener(app, c.bank.id)
    changes = 0
    while reader.is_alive() and changes < 400:
        ann.post("/api/v1/agents/me/state", json={"state": "ready" if changes % 2 == 0 else "logged_out"})
        changes += 1
    reader.join(10)
    times = [datetime.fromisoformat(e["at"]).timestamp() for e in _events(body[0])]
    assert len(times) == 4
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 0.25 - 0.02, gaps
    # Changes came faster than 4 a second (each gap would otherwise be one request's time), yet the pushes did not.
    assert changes > len(gaps)


def test_stream_shows_a_new_queue_at_once(app: FastAPI, world: World, login: Any) -> None:
    c = center(world, login, agents={}, queues={"cards": {}})
    body: list[str] = []
    reader = _read_stream(c.supervisor, {"max_events": 2}, body)
    _wait_for_listener(app, c.bank.id)
    assert c.supervisor.post("/api/v1/acd/queues", json={"name": "loans"}).status_code == 201
    reader.join(10)
    assert not reader.is_alive()
    first, second = _events(body[0])
    assert [q["name"] for q in first["queues"]] == ["cards"]
    assert [q["name"] for q in second["queues"]] == ["cards", "loans"]
