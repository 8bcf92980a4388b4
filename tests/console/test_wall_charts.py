"""Charts of the day: the SVG module on its own (bars proportional, an empty day, no division by zero, accessible
names), the wallboard drawing today's hourly figures, and the operator's counts of the day across institutions
(counts only, operators only)."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

from fastapi import FastAPI

from callvault.core import clock
from callvault.web import charts
from tests.acd.live import center, owner
from tests.fixtures import World

HOURS = [f"{h:02d}:00" for h in range(24)]
TEXTS = charts.Texts(title="Calls <today>", desc="desc & more", empty="No calls yet today.")


def _rects(svg: str, key: str) -> list[dict[str, str]]:
    found = re.findall(
        rf'<rect class="bar bar-{key}" x="[^"]+" y="([^"]+)" width="[^"]+" height="([^"]+)" '
        rf'data-value="(\d+)"><title>([^<]*)</title>',
        svg,
    )
    return [{"y": y, "height": h, "value": v, "title": t} for y, h, v, t in found]


def test_bars_are_proportional_to_their_values_with_one_bar_per_hour() -> None:
    offered = [0] * 24
    offered[9], offered[10], offered[11] = 10, 5, 2
    answered = [0] * 24
    answered[9], answered[10] = 8, 5
    ratio: list[float | None] = [None] * 24
    ratio[9], ratio[10], ratio[11] = 0.7, 1.0, 0.0
    svg = str(
        charts.hourly_chart(
            HOURS,
            [charts.Series("offered", "Offered", offered), charts.Series("answered", "Answered", answered)],
            TEXTS,
            ratio=charts.Ratio("service-level", "Service level", ratio),
            chart_id="t",
        )
    )
    bars = _rects(svg, "offered")
    assert len(bars) == 24 and len(_rects(svg, "answered")) == 24
    assert [b["value"] for b in bars] == [str(v) for v in offered]
    assert bars[9]["title"] == "09:00 Offered: 10" and bars[11]["title"] == "11:00 Offered: 2"
    heights = [float(b["height"]) for b in bars]
    assert heights[9] == 2 * heights[10] == 5 * heights[11] > 0
    assert all(h == 0 for i, h in enumerate(heights) if i not in (9, 10, 11))
    plot_h = charts.HEIGHT - charts.MARGIN_TOP - charts.MARGIN_BOTTOM
    assert heights[9] == plot_h  # 10 is the top of the axis (nice_max)
    # The ratio: a point per hour with a ratio, titled with the percentage; hours without one break the line.
    assert svg.count("<circle") == 3 and "<title>10:00 Service level: 100.0%</title>" in svg
    assert svg.count("<polyline") == 1
    # Accessible name and description, escaped.
    assert 'role="img"' in svg and 'aria-labelledby="t-title t-desc"' in svg
    assert '<title id="t-title">Calls &lt;today&gt;</title><desc id="t-desc">desc &amp; more</desc>' in svg


def test_an_empty_day_says_so_and_divides_by_nothing() -> None:
    zeros = [0] * 24
    svg = str(
        charts.hourly_chart(
            HOURS,
            [charts.Series("offered", "Offered", zeros)],
            TEXTS,
            ratio=charts.Ratio("service-level", "Service level", [None] * 24),
        )
    )
    assert "No calls yet today." in svg and "<rect" not in svg and 'role="img"' in svg
    assert "No calls yet today." in str(charts.hourly_chart([], [], TEXTS))
    assert charts.bar_height(5, 0, 100) == 0.0 and charts.bar_height(0, 10, 100) == 0.0
    assert [charts.nice_max(v) for v in (0, 1, 3, 10, 11, 45, 101)] == [1, 1, 5, 10, 20, 50, 200]


def test_texts_in_chinese_are_kept_and_escaped() -> None:
    svg = str(charts.hourly_chart(["00:00"], [charts.Series("offered", "进线", [3])], TEXTS))
    assert "<title>00:00 进线: 3</title>" in svg and ">进线</text>" in svg and "Noto Sans CJK SC" in svg
    hostile = str(charts.hourly_chart(["<x>"], [charts.Series("a", "<script>", [1])], TEXTS))
    assert "<script>" not in hostile and "&lt;script&gt;" in hostile


def _to_next_hour() -> None:
    now = clock.now()
    nxt = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1, minutes=5)
    if nxt.hour == 23:
        nxt += timedelta(hours=1)
    clock.travel((nxt - now).total_seconds())


def test_wallboard_draws_todays_hours_and_refreshes_them(app: FastAPI, world: World, login: Any) -> None:
    _to_next_hour()  # before signing in (the application clock also runs the idle timeout)
    c = center(world, login, agents={"ann": {"cards": 5}}, queues={"cards": {"service_level_seconds": 20}})
    empty = c.supervisor.get("/console/wallboard").text
    assert 'id="chart-total"' in empty and "今天还没有来电。" in empty
    assert "按 UTC 日期的小时统计：本机构未设置时区。" in empty  # noqa: RUF001 - the Chinese text as shown

    ann_id = c.agents["ann"].user_id
    c.sessions["ann"].post("/api/v1/agents/me/state", json={"state": "ready"})
    routing = owner(app, c.bank)
    first, second = uuid.uuid4(), uuid.uuid4()
    routing.enqueue(first, queue_id=c.queues["cards"])
    clock.travel(5)
    routing.accept(agent_id=ann_id, call_id=first)
    routing.enqueue(second, queue_id=c.queues["cards"])
    routing.abandon(second)
    hour = f"{clock.now().hour:02d}:00"

    page = c.supervisor.get("/console/wallboard")
    assert page.status_code == 200
    html = page.text
    total = html[html.index('id="chart-total"') : html.index("</svg>", html.index('id="chart-total"'))]
    offered = _rects(total, "offered")
    assert len(offered) == 24 and len(_rects(total, "answered")) == 24 and len(_rects(total, "abandoned")) == 24
    assert f"<title>{hour} 进线: 2</title>" in total and f"<title>{hour} 接听: 1</title>" in total
    assert f"<title>{hour} 放弃: 1</title>" in total and f"<title>{hour} 服务水平: 50.0%</title>" in total
    assert sum(int(b["value"]) for b in offered) == 2
    assert f'id="chart-{c.queues["cards"]}"' in html  # one chart per queue as well
    assert 'hx-get="/console/wallboard/charts" hx-trigger="every 60s"' in html

    fragment = c.supervisor.get("/console/wallboard/charts")
    assert fragment.status_code == 200 and fragment.headers["cache-control"] == "no-store"
    assert fragment.text.lstrip().startswith('<div id="wallboard-charts"') and "<html" not in fragment.text
    c.supervisor.client.cookies.set("callvault_lang", "en")
    english = c.supervisor.get("/console/wallboard/charts").text
    assert f"<title>{hour} Offered: 2</title>" in english and "Hours of the UTC day" in english
    assert c.sessions["ann"].get("/console/wallboard/charts").status_code == 403  # no report.read


def test_operator_sees_todays_counts_per_institution_and_institutions_never_do(
    app: FastAPI, world: World, login: Any
) -> None:
    c = center(world, login, agents={"ann": {"cards": 5}, "bob": {"cards": 5}}, queues={"cards": {}})
    quiet = center(world, login, agents={}, queues={})
    c.sessions["ann"].post("/api/v1/agents/me/state", json={"state": "ready"})
    c.sessions["bob"].post("/api/v1/agents/me/state", json={"state": "paused", "reason": "lunch"})
    routing = owner(app, c.bank)
    calls = [uuid.uuid4() for _ in range(3)]
    for call in calls:
        routing.enqueue(call, queue_id=c.queues["cards"])
    routing.accept(agent_id=c.agents["ann"].user_id, call_id=calls[0])

    op = login(world.operator_user())
    page = op.get("/console/today")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    html = page.text

    def row(slug: str) -> dict[str, int]:
        start = html.index(f'<tr data-slug="{slug}">')
        part = html[start : html.index("</tr>", start)]
        return {k: int(v) for k, v in re.findall(r'data-count="(\w+)">(\d+)<', part)}

    assert row(c.bank.slug) == {
        "calls_offered": 3,
        "calls_answered": 1,
        "agents_logged_in": 2,  # ready-then-talking and paused: both logged in
        "campaigns_running": 0,
        "trigger_orders": 0,
    }
    assert set(row(quiet.bank.slug).values()) == {0}
    assert 'id="health-database">可访问<' in html and 'id="health-schema">最新<' in html
    assert 'href="/console/today"' in html
    for call in calls:  # counts only: no call, agent or user ids
        assert str(call) not in html
    assert str(c.agents["ann"].user_id) not in html.replace(f"user:{op.get('/api/v1/auth/me').json()['id']}", "")

    # Institutions never see it: not in their navigation, 403 on the page.
    for s in (c.supervisor, login(world.user(c.bank.slug, role="admin"))):
        assert s.get("/console/today").status_code == 403
        assert 'href="/console/today"' not in s.get("/console").text


def test_the_charts_timed_refresh_does_not_keep_an_unattended_wallboard_signed_in(
    app: FastAPI, world: World, login: Any
) -> None:
    c = center(world, login, agents={"ann": {"cards": 5}}, queues={"cards": {}})
    refresh = {"X-CallVault-Timed-Refresh": "1"}
    sup = c.supervisor
    assert 'hx-headers=\'{"X-CallVault-Timed-Refresh": "1"}\'' in sup.get("/console/wallboard").text
    # A refresh inside the idle limit is served but does not count as activity ...
    for _ in range(14):
        clock.travel(60)
        assert sup.get("/console/wallboard/charts", headers=refresh).status_code == 200
    # ... so 16 minutes after the last page the user opened, the session is over.
    clock.travel(120)
    gone = sup.client.get("/console/wallboard/charts", headers=refresh, follow_redirects=False)
    assert gone.status_code == 303 and gone.headers["location"] == "/login"

    # The same requests without the header are the user's own: they keep the session.
    other = center(world, login, agents={"bob": {"cards": 5}}, queues={"cards": {}}).supervisor
    for _ in range(16):
        clock.travel(60)
        assert other.get("/console/wallboard/charts").status_code == 200
