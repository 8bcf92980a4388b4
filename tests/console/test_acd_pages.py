"""Wallboard and agent desktop pages: rendered with the institution's live figures for permitted users, 403 for
others, force controls only for supervisors, and nothing of another institution on either page."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from callvault.acd.owner import CallInfo
from tests.acd.live import center, owner
from tests.fixtures import World


def test_wallboard_shows_queues_and_agents_live_with_force_controls(world: World, login: Any) -> None:
    c = center(world, login, agents={"ann": {"cards": 5}, "bob": {"loans": 3}}, queues={"cards": {}, "loans": {}})
    ann_id = c.agents["ann"].user_id
    c.sessions["ann"].post("/api/v1/agents/me/state", json={"state": "ready"})
    c.sessions["bob"].post("/api/v1/agents/me/state", json={"state": "paused", "reason": "lunch"})

    page = c.supervisor.get("/console/wallboard")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    html = page.text
    for name, queue_id in c.queues.items():
        assert f'data-queue="{queue_id}"><td class="q-name">{name}</td>' in html
    assert f'<tr data-agent="{ann_id}"><td class="a-name">ann</td>' in html
    assert 'data-state="ready">就绪</td>' in html and 'data-state="paused">小休</td>' in html
    assert 'data-stream="/api/v1/acd/stats/stream"' in html and 'src="/static/wallboard.js"' in html
    assert 'id="force-template"' in html and '<option value="lunch">Lunch</option>' in html
    assert 'href="/console/wallboard"' in html and 'href="/console/desk"' not in html  # no agent.handle

    # The page's force control posts with the session's CSRF header; without it the change is refused.
    refused = c.supervisor.client.post(f"/api/v1/agents/{ann_id}/state", json={"state": "logged_out"})
    assert refused.status_code == 403 and f'data-csrf="{c.supervisor.csrf}"' in html
    # A forced change through the API the page's form calls shows on the next render.
    r = c.supervisor.post(f"/api/v1/agents/{ann_id}/state", json={"state": "logged_out"})
    assert r.status_code == 200, r.text
    assert (
        f'<tr data-agent="{ann_id}"><td class="a-name">ann</td>\n        <td class="a-state" data-state="logged_out">'
        in (c.supervisor.get("/console/wallboard").text)
    )
    c.supervisor.client.cookies.set("callvault_lang", "en")
    english = c.supervisor.get("/console/wallboard").text
    assert "Agents by state" in english and '"logged_out": "Logged out"' in english


def test_who_may_open_the_wallboard_and_the_desk(world: World, login: Any, app: FastAPI) -> None:
    c = center(world, login, agents={"ann": {"cards": 5}}, queues={"cards": {}})
    admin = login(world.user(c.bank.slug, role="admin"))
    ann = c.sessions["ann"]
    assert ann.get("/console/wallboard").status_code == 403  # no report.read
    assert c.supervisor.get("/console/desk").status_code == 403  # no agent.handle
    board = admin.get("/console/wallboard")  # report.read without agent.supervise: figures, no force control
    assert board.status_code == 200 and 'id="force-template"' not in board.text and 'class="a-force"' not in board.text
    assert admin.get("/console/desk").status_code == 403
    with TestClient(app, base_url="https://testserver") as anonymous:
        for path in ("/console/wallboard", "/console/desk"):
            r = anonymous.get(path, follow_redirects=False)
            assert r.status_code == 303 and r.headers["location"] == "/login"


def test_desk_shows_the_agent_state_pause_reasons_and_the_pop_panel(world: World, login: Any, app: FastAPI) -> None:
    c = center(world, login, agents={"ann": {"cards": 5}}, queues={"cards": {}})
    ann, ann_id = c.sessions["ann"], c.agents["ann"].user_id
    page = ann.get("/console/desk")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    html = page.text
    assert f'data-actor="user:{ann_id}"' in html and f"user:{ann_id} · " in html  # the watermark
    assert 'data-ws="/api/v1/agents/me/ws"' in html and 'src="/static/desk.js"' in html
    assert '<option value="lunch">Lunch</option>' in html and '<option value="training">Training</option>' in html
    assert 'id="desk-state" data-state="logged_out">已签出</b>' in html and 'id="no-seat"' not in html

    ann.post("/api/v1/agents/me/state", json={"state": "ready"})
    call = uuid.uuid4()
    owner(app, c.bank).enqueue(call, queue_id=c.queues["cards"], info=CallInfo(interaction_id=uuid.uuid4()))
    ringing = ann.get("/console/desk").text
    assert 'id="desk-state" data-state="ringing">振铃中</b>' in ringing
    assert str(call) not in ringing  # the pop arrives only through the agent's channel, masked

    # A user with agent.handle but no seat set up yet is told so.
    newcomer = login(world.user(c.bank.slug, role="agent"))
    assert 'id="no-seat"' in newcomer.get("/console/desk").text


def test_another_institution_sees_nothing_of_this_one(world: World, login: Any, app: FastAPI) -> None:
    a = center(world, login, agents={"ann": {"cards": 5}}, queues={"cards-a": {}})
    b = center(world, login, agents={"ann": {"cards": 5}}, queues={"cards-b": {}})
    a_ann = a.agents["ann"].user_id
    a.sessions["ann"].post("/api/v1/agents/me/state", json={"state": "ready"})
    owner(app, a.bank).enqueue(uuid.uuid4(), queue_id=a.queues["cards-a"])

    board = b.supervisor.get("/console/wallboard").text
    assert "cards-b" in board and str(b.agents["ann"].user_id) in board
    assert "cards-a" not in board and str(a.queues["cards-a"]) not in board and str(a_ann) not in board
    desk = b.sessions["ann"].get("/console/desk").text
    assert 'data-state="logged_out"' in desk and str(a_ann) not in desk and "cards-a" not in desk
    # B's supervisor cannot force A's agent from the wallboard's control either.
    assert b.supervisor.post(f"/api/v1/agents/{a_ann}/state", json={"state": "logged_out"}).status_code == 404
    assert owner(app, a.bank).router.agents[a_ann].state.value == "ringing"
