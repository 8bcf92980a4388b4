"""Today's hourly figures (`GET /api/v1/acd/stats/today`): decisions made through the owner and the action
functions are counted in the right hour and queue by the database, agree with the live counters, follow the
institution's time zone, and stay inside the institution."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import FastAPI

from callvault.acd.day_report import local_day
from callvault.core import clock
from callvault.tenancy import service as tenancy
from callvault.tenancy.schemas import TenantUpdate
from tests.acd.live import center, owner
from tests.fixtures import World


def _to_next_hour(minutes: int = 5) -> None:
    """Put the clock `minutes` past the next full hour other than 23:00 UTC, so a scripted few minutes stay inside
    one hour and the following hour is still today."""
    now = clock.now()
    nxt = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1, minutes=minutes)
    if nxt.hour == 23:
        nxt += timedelta(hours=1)
    clock.travel((nxt - now).total_seconds())


def _current(hours: list[dict[str, Any]]) -> dict[str, Any]:
    now = clock.now()
    return next(
        h
        for h in hours
        if datetime.fromisoformat(h["start"]) <= now < datetime.fromisoformat(h["start"]) + timedelta(hours=1)
    )


def _script_day(app: FastAPI, c: Any) -> None:
    """Three calls to "cards" (one answered within 20 s, one after 35 s, one abandoned), one to "loans"."""
    ann, ann_id = c.sessions["ann"], c.agents["ann"].user_id
    routing = owner(app, c.bank)
    cards, loans = c.queues["cards"], c.queues["loans"]
    first, second, third, fourth = (uuid.uuid4() for _ in range(4))
    ann.post("/api/v1/agents/me/state", json={"state": "ready"})
    routing.enqueue(first, queue_id=cards)
    clock.travel(5)
    routing.accept(agent_id=ann_id, call_id=first)
    routing.enqueue(second, queue_id=cards)
    routing.enqueue(third, queue_id=cards)
    routing.enqueue(fourth, queue_id=loans)
    clock.travel(30)
    routing.abandon(third)
    routing.finish_call(first)
    ann.post("/api/v1/agents/me/wrap-up", json={"disposition": "resolved"})
    routing.accept(agent_id=ann_id, call_id=second)


def test_hourly_counts_of_a_scripted_day_match_the_live_counters(app: FastAPI, world: World, login: Any) -> None:
    _to_next_hour()  # before signing in: sessions time out after 15 idle minutes of the application clock
    c = center(
        world,
        login,
        agents={"ann": {"cards": 5}},
        queues={"cards": {"service_level_seconds": 20}, "loans": {"requirements": {"loans": 1}}},
    )
    _script_day(app, c)

    r = c.supervisor.get("/api/v1/acd/stats/today")
    assert r.status_code == 200, r.text
    day = r.json()
    assert day["time_zone"] == "UTC" and day["time_zone_default"] is True
    assert len(day["total"]) == 24 and [h["hour"] for h in day["total"]] == list(range(24))
    assert day["total"][0]["label"] == "00:00" and day["total"][23]["label"] == "23:00"
    by_name = {q["name"]: q for q in day["queues"]}
    cards = _current(by_name["cards"]["hours"])
    assert (cards["offered"], cards["answered"], cards["abandoned"], cards["answered_within_target"]) == (3, 2, 1, 1)
    assert abs(cards["service_level"] - 1 / 3) < 1e-3
    loans = _current(by_name["loans"]["hours"])
    assert (loans["offered"], loans["answered"], loans["abandoned"]) == (1, 0, 0)
    total = _current(day["total"])
    assert (total["offered"], total["answered"], total["abandoned"], total["answered_within_target"]) == (4, 2, 1, 1)
    # Every other hour is empty, with no ratio (no division by zero).
    others = [h for h in day["total"] if h["hour"] != total["hour"]]
    assert all(h["offered"] == 0 and h["service_level"] is None for h in others)

    # The hourly figures add up to the live counters of the day.
    live = {q["name"]: q for q in c.supervisor.get("/api/v1/acd/stats").json()["queues"]}
    for name in ("cards", "loans"):
        hours = by_name[name]["hours"]
        assert sum(h["offered"] for h in hours) == live[name]["offered_today"]
        assert sum(h["answered"] for h in hours) == live[name]["answered_today"]
        assert sum(h["abandoned"] for h in hours) == live[name]["abandoned_today"]
        assert sum(h["answered_within_target"] for h in hours) == live[name]["answered_within_target_today"]

    # One queue only: its figures are the total.
    only = c.supervisor.get("/api/v1/acd/stats/today", params={"queue": str(c.queues["loans"])}).json()
    assert [q["name"] for q in only["queues"]] == ["loans"] and _current(only["total"])["offered"] == 1


def test_a_call_waiting_across_the_hour_is_offered_once_in_its_first_hour(
    app: FastAPI, world: World, login: Any
) -> None:
    _to_next_hour(minutes=59)
    c = center(world, login, agents={"ann": {"cards": 5}}, queues={"cards": {"service_level_seconds": 20}})
    call = uuid.uuid4()
    owner(app, c.bank).enqueue(call, queue_id=c.queues["cards"])  # nobody ready: it waits
    before = _current(c.supervisor.get("/api/v1/acd/stats/today").json()["total"])
    clock.travel(120)  # into the next hour
    c.sessions["ann"].post("/api/v1/agents/me/state", json={"state": "ready"})
    owner(app, c.bank).accept(agent_id=c.agents["ann"].user_id, call_id=call)
    day = c.supervisor.get("/api/v1/acd/stats/today").json()
    after = _current(day["total"])
    assert after["hour"] == before["hour"] + 1
    first = day["total"][before["hour"]]
    # The offer stays in its first hour; the answer (after two minutes: outside the target) is in the next.
    assert (first["offered"], first["answered"]) == (1, 0)
    assert (after["offered"], after["answered"], after["answered_within_target"]) == (0, 1, 0)
    assert after["service_level"] is None and sum(h["offered"] for h in day["total"]) == 1


def test_the_day_follows_the_institutions_time_zone(app: FastAPI, world: World, login: Any) -> None:
    c = center(world, login, agents={"ann": {"cards": 5}}, queues={"cards": {}})
    with world.db.scoped() as session:
        tenancy.update_tenant(
            session,
            actor=tenancy.operator_principal(session),
            tenant_id=c.bank.id,
            data=TenantUpdate(settings={"time_zone": "Asia/Shanghai"}),
        )
    owner(app, c.bank).enqueue(uuid.uuid4(), queue_id=c.queues["cards"])
    day = c.supervisor.get("/api/v1/acd/stats/today").json()
    shanghai = clock.now().astimezone(ZoneInfo("Asia/Shanghai"))
    assert day["time_zone"] == "Asia/Shanghai" and day["time_zone_default"] is False
    assert day["day"] == shanghai.date().isoformat()
    assert datetime.fromisoformat(day["total"][0]["start"]).astimezone(UTC).hour == 16  # local midnight, UTC+8
    current = _current(day["total"])
    assert current["label"] == f"{shanghai.hour:02d}:00" and current["offered"] == 1


def test_local_days_with_a_clock_change_and_unknown_zones() -> None:
    spring = local_day({"time_zone": "Europe/Berlin"}, datetime(2026, 3, 29, 12, tzinfo=UTC))
    assert len(spring.hours) == 23 and spring.labels()[:3] == ["00:00", "01:00", "03:00"]
    autumn = local_day({"time_zone": "Europe/Berlin"}, datetime(2026, 10, 25, 12, tzinfo=UTC))
    assert len(autumn.hours) == 25
    wrong = local_day({"time_zone": "Mars/Olympus"}, datetime(2026, 12, 1, 12, tzinfo=UTC))
    assert wrong.zone == "UTC" and wrong.zone_is_default and len(wrong.hours) == 24
    assert local_day(None, datetime(2026, 12, 1, 23, 59, tzinfo=UTC)).day.isoformat() == "2026-12-01"


def test_who_may_read_the_hourly_figures(world: World, login: Any) -> None:
    c = center(world, login, agents={"ann": {"cards": 5}}, queues={"cards": {}})
    other = center(world, login, agents={}, queues={"theirs": {}})
    assert c.sessions["ann"].get("/api/v1/acd/stats/today").status_code == 403  # no report.read
    r = c.supervisor.get("/api/v1/acd/stats/today", params={"queue": str(other.queues["theirs"])})
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    assert c.supervisor.get("/api/v1/acd/stats/today", params={"queue": "x"}).status_code == 422
