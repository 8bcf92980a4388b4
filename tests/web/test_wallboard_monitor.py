"""The supervisor joins a live call from the wallboard (Debian Chromium): with no live call the wallboard shows the
refusal; on a call carried by the switchboard (the simulated engine in a thread of its own, with the served app's
routing owners) the supervisor's phone is rung, the page says so and the call record gets the supervisor's leg."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from callvault.config import Settings
from callvault.core.db import Database
from callvault.core.tenant_context import set_tenant
from callvault.interactions.models import InteractionLeg
from callvault.main import create_app
from callvault.telephony.sim import FarEnd
from tests.acd.live import center, owner
from tests.fixtures import World
from tests.inbound.simthread import carried, phones_and_number, until
from tests.serving import serve_in_thread
from tests.web.conftest import screenshot
from tests.web.test_console_pages import sign_in


@pytest.fixture(scope="module")
def app(settings: Settings, db: Database) -> FastAPI:
    return create_app(settings.model_copy(update={"cookie_secure": False}), db=db)


@pytest.fixture(scope="module")
def served(app: FastAPI) -> Iterator[str]:
    with serve_in_thread(app) as url:
        yield url


def test_the_supervisor_barges_in_from_the_wallboard(
    app: FastAPI, served: str, world: World, login: Any, db: Database, browser: Any, tmp_path: Path
) -> None:
    c = center(world, login, agents={"ann": {"cards": 5}}, queues={"cards": {}})
    ann = c.agents["ann"].user_id
    watcher = world.user(c.bank.slug, role="supervisor")  # the API sign-in used the first one's TOTP code
    did = phones_and_number(db, c, {"ann": ann, "boss": watcher.user_id})
    assert c.sessions["ann"].post("/api/v1/agents/me/state", json={"state": "ready"}).status_code == 200

    ctx = browser.new_context(locale="zh-CN")
    board = ctx.new_page()
    sign_in(board, served, watcher)
    board.click(".sidenav >> text=监控大屏")
    row = f"#agents tr[data-agent='{ann}']"
    board.wait_for_selector(f"{row} .a-state[data-state='ready']", timeout=10_000)

    # No live call: the refusal is shown, nothing rings.
    board.select_option(f"{row} .monitor-form select[name=mode]", "barge")
    board.click(f"{row} .monitor-form button")
    board.wait_for_selector("#wallboard-error", state="visible", timeout=10_000)
    assert "live call" in (board.text_content("#wallboard-error") or "")

    phones = {"ann": FarEnd(answer_after=1.0, hangup_after=None), "boss": FarEnd(answer_after=1.0, hangup_after=None)}
    with carried(app, db, tmp_path, phones, did):
        until(lambda: owner(app, c.bank).connected_call(ann) is not None)
        board.wait_for_selector(f"{row} .a-state[data-state='talking']", timeout=10_000)
        board.select_option(f"{row} .monitor-form select[name=mode]", "barge")
        board.click(f"{row} .monitor-form button")
        board.wait_for_selector("#wallboard-notice", state="visible", timeout=10_000)
        assert board.text_content("#wallboard-notice") == "您的话机正在振铃。接听即可加入通话。"
        assert board.is_hidden("#wallboard-error")
        screenshot(board, "wallboard-monitor-zh")

        def barging() -> bool:
            with db.scoped() as session:
                set_tenant(session, c.bank.id)
                stmt = select(InteractionLeg).where(InteractionLeg.party == "supervisor")
                return [leg.monitor_mode for leg in session.scalars(stmt)] == ["barge"]

        until(barging)
    ctx.close()
