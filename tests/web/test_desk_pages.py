"""The wallboard and the agent desktop in a real browser (Debian Chromium), two browser contexts: the supervisor's
wallboard shows the agent going ready on its desk live (statistics stream), then a call offered through the
institution's routing owner pops on the desk masked, cannot be selected, and is accepted. Screenshots go to
artifacts/screenshots/."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI

from callvault.acd.owner import CallInfo
from callvault.config import Settings
from callvault.core.db import Database
from tests.acd.live import center, owner
from tests.fixtures import World
from tests.serving import serve_in_thread
from tests.vault_fixtures import CARD, ID_NUMBER, NAME, PHONE, store_contact
from tests.web.conftest import console_app, screenshot
from tests.web.test_console_pages import sign_in


@pytest.fixture(scope="module")
def app(settings: Settings, db: Database) -> FastAPI:
    """The served app itself (not only its address): calls are offered through its routing owner, and the set-up
    requests (`login`) go to it too, so both see one owner per institution."""
    return console_app(settings, db)


@pytest.fixture(scope="module")
def served(app: FastAPI) -> Iterator[str]:
    with serve_in_thread(app) as url:
        yield url


def test_wallboard_follows_the_desk_and_an_offer_pops_masked_and_is_accepted(
    app: FastAPI, served: str, world: World, login: Any, db: Database, browser: Any
) -> None:
    c = center(world, login, agents={"ann": {"cards": 5}}, queues={"cards": {"disposition_required": True}})
    ann_id = c.agents["ann"].user_id
    # A second supervisor for the browser: the first one's TOTP code was just used by the API sign-in.
    watcher = world.user(c.bank.slug, role="supervisor")
    stored = store_contact(db, c.bank.slug)

    board_ctx = browser.new_context(locale="zh-CN")
    board = board_ctx.new_page()
    sign_in(board, served, watcher)
    board.click(".sidenav >> text=监控大屏")
    row = f"#agents tr[data-agent='{ann_id}']"
    board.wait_for_selector(f"{row} .a-state[data-state='logged_out']")
    board.wait_for_selector("#wallboard[data-updates]")  # the stream is connected

    desk_ctx = browser.new_context(locale="zh-CN")
    desk = desk_ctx.new_page()
    sign_in(desk, served, c.agents["ann"])
    desk.click(".sidenav >> text=坐席工作台")
    desk.wait_for_selector("#desk[data-channel='open']")
    desk.click("#go-ready")
    desk.wait_for_selector("#desk-state[data-state='ready']")
    assert desk.text_content("#desk-state") == "就绪"

    # Live on the other browser context, without a reload.
    board.wait_for_selector(f"{row} .a-state[data-state='ready']", timeout=10_000)
    assert board.text_content(f"{row} .a-state") == "就绪"
    assert board.text_content(f"{row} .a-name") == "ann"
    screenshot(board, "wallboard-zh")

    call = uuid.uuid4()
    info = CallInfo(
        interaction_id=uuid.uuid4(), ivr_path=("main", "cards"), digits=("1", CARD), contact_id=stored.contact_id
    )
    owner(app, c.bank).enqueue(call, queue_id=c.queues["cards"], info=info)
    desk.wait_for_selector(f"#offer[data-call='{call}']", state="visible", timeout=10_000)
    assert desk.text_content("#desk-state") == "振铃中"
    assert desk.text_content("#offer-queue") == "cards"
    assert desk.text_content("#offer-path") == "main > cards"
    assert desk.text_content("#offer-digits") == "1 " + "*" * len(CARD)
    pop = desk.inner_text("#offer")
    for secret in (PHONE, PHONE[3:], NAME, ID_NUMBER, CARD):
        assert secret not in pop
    assert desk.text_content("#offer-phones")  # masked numbers are shown
    assert desk.evaluate("getComputedStyle(document.getElementById('offer')).userSelect") == "none"
    assert f"user:{ann_id} · " in (desk.text_content("#pop-watermark") or "")
    screenshot(desk, "desk-offer-zh")

    desk.click("#accept")
    desk.wait_for_selector("#desk-state[data-state='talking']", timeout=10_000)
    desk.wait_for_selector("#accept", state="hidden")
    assert desk.text_content("#offer-status") == "已接通客户。"
    assert owner(app, c.bank).router.agents[ann_id].state.value == "talking"
    board.wait_for_selector(f"{row} .a-state[data-state='talking']", timeout=10_000)
    screenshot(desk, "desk-talking-zh")

    # The call's controls come with the answer. No telephony here carries this call, so a command is refused: the
    # problem shows in the message area and the controls stay usable.
    desk.wait_for_selector(f"#call-controls[data-call='{call}']", state="visible")
    assert desk.eval_on_selector_all("#transfer-queue option", "os => os.map(o => o.textContent)") == ["cards"]
    desk.click("#call-hold")
    desk.wait_for_selector("#desk-error[data-kind='error']", state="visible", timeout=10_000)
    assert "carried by telephony here" in (desk.text_content("#desk-error") or "")
    assert desk.get_attribute("#call-hold", "aria-disabled") == "false" and desk.is_hidden("#call-unhold")
    screenshot(desk, "desk-call-refused-zh")

    # The caller hangs up: wrap-up with its timer; this queue refuses to close it without a disposition code.
    owner(app, c.bank).finish_call(call)
    desk.wait_for_selector("#wrap-up", state="visible", timeout=10_000)
    # The pop stays during wrap-up (the agent files the call), and goes with it.
    assert desk.get_attribute("#desk-state", "data-state") == "wrap_up" and desk.is_visible("#offer")
    assert desk.is_disabled("#go-ready") and desk.is_disabled("#go-pause")  # wrap-up ends with its form
    assert desk.is_hidden("#call-controls")
    desk.click("#end-wrap-up")
    desk.wait_for_selector("#desk-error", state="visible")
    assert "disposition" in (desk.text_content("#desk-error") or "")
    assert desk.get_attribute("#desk-state", "data-state") == "wrap_up"
    screenshot(desk, "desk-wrap-up-zh")
    desk.fill("#disposition", "resolved")
    desk.click("#end-wrap-up")
    desk.wait_for_selector("#desk-state[data-state='ready']", timeout=10_000)
    assert desk.is_hidden("#wrap-up") and desk.is_hidden("#offer")
    board.wait_for_selector(f"{row} .a-state[data-state='ready']", timeout=10_000)
    assert board.text_content(f"{row} .a-handled") == "1"
    desk_ctx.close()
    board_ctx.close()
