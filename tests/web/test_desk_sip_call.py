"""A real SIP call reaching the agent desk in a real browser (Debian Chromium): the agent goes ready on the desk; a
SIPp caller calls the institution's DID at the media worker and keys "1" in the published flow; the agent's SIP phone
(a SIPp user agent registered with its digest at a Kamailio front) rings while the desk pops the call masked; the
agent accepts on the desk and the phone answers too; from the desk, by keyboard, the agent holds, resumes and hangs
up; the desk goes to wrap-up, the agent files the disposition and is ready again. The call record has both legs, the
hold time and the disposition. Screenshots go to artifacts/screenshots/.

The switchboard runs on a pjsua2 sip engine in its own thread and event loop with the served app's routing owners,
as the services' calls thread carries it in `callvault serve`."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from callvault.acd.agent_state import AgentState
from callvault.acd.owner import AcdOwners
from callvault.config import Settings
from callvault.core.db import Database
from callvault.telephony.sim import FarEnd
from tests.fixtures import World
from tests.inbound.floors import floor, interactions
from tests.inbound.sip_rig import (
    NEEDS_SIP,
    SwitchboardThread,
    agent_phone,
    finished,
    kamailio_front,
    reaped,
    sipp,
)
from tests.serving import serve_in_thread
from tests.sipedge.test_front_sip import free_udp_port
from tests.telephony.contract.sipp_far_end import caller_scenario
from tests.vault_fixtures import CARD, ID_NUMBER, NAME, PHONE, store_contact
from tests.web.conftest import console_app, screenshot
from tests.web.test_console_pages import sign_in

pytestmark = NEEDS_SIP
RING_MS = 6000  # the phone rings this long: the agent accepts on the desk first
HOLD_S = 1.5
WAIT_MS = 30_000  # bounds against hangs (the IVR's prompts are spoken first), not performance assertions


@pytest.fixture(scope="module")
def app(settings: Settings, db: Database) -> FastAPI:
    """The served app itself: the switchboard hands callers to its routing owners and runs its desk's commands."""
    return console_app(settings, db)


@pytest.fixture(scope="module")
def served(app: FastAPI) -> Iterator[str]:
    with serve_in_thread(app) as url:
        yield url


def test_a_sip_call_pops_on_the_desk_and_is_held_resumed_and_hung_up_from_it(
    app: FastAPI, served: str, world: World, db: Database, browser: Any, tmp_path: Path
) -> None:
    pytest.importorskip("pjsua2", reason="the pjsua2-python wheel is not installed")
    owners: AcdOwners = app.state.acd
    f = floor(db, world, owners, phones={"alice": True})
    alice = f.agents["alice"]
    store_contact(db, f.slug)  # a customer on file with the caller's number: it pops, masked
    worker_port = free_udp_port()
    pcaps = tmp_path / "caller"
    pcaps.mkdir()
    # The caller keys "1" and stays on the line until the engine hangs it up (the agent's hang-up).
    caller = FarEnd(digits=FarEnd.presses("1", start=2.0), hangup_after=None)
    call_in = caller_scenario(caller, from_uri=f"sip:{PHONE}@127.0.0.1", to_uri=f"sip:{f.did}@127.0.0.1", workdir=pcaps)

    with (
        kamailio_front(db, tmp_path, worker_port) as front_at,
        SwitchboardThread(db, owners, tmp_path, worker_port=worker_port, front_at=front_at) as board,
        reaped() as runs,
    ):
        phone = agent_phone(tmp_path, front_at, f, "alice", ring_ms=RING_MS)
        runs.append(phone)
        context = browser.new_context(locale="zh-CN")
        desk = context.new_page()
        sign_in(desk, served, f.accounts["alice"])
        desk.click(".sidenav >> text=坐席工作台")
        desk.wait_for_selector("#desk[data-channel='open']")
        desk.click("#go-ready")
        desk.wait_for_selector("#desk-state[data-state='ready']")

        calling = sipp(tmp_path, "caller", call_in, target=f"127.0.0.1:{worker_port}")
        runs.append(calling)
        desk.wait_for_selector("#offer", state="visible", timeout=WAIT_MS)
        assert desk.text_content("#desk-state") == "振铃中"
        assert board.stats.rings == 1  # the phone rings as the desk pops
        assert desk.text_content("#offer-queue") == "cards"
        assert desk.text_content("#offer-path") == "menu > to_cards"
        assert desk.text_content("#offer-digits") == "1"
        pop = desk.inner_text("#offer")
        for secret in (PHONE, PHONE[3:], PHONE[-8:], NAME, ID_NUMBER, CARD):
            assert secret not in pop
        assert desk.text_content("#offer-phones")  # the caller is on file: its masked numbers are shown
        assert f"user:{alice} · " in (desk.text_content("#pop-watermark") or "")
        screenshot(desk, "desk-sip-offer-zh")

        desk.click("#accept")
        desk.wait_for_selector("#desk-state[data-state='talking']", timeout=WAIT_MS)
        assert board.stats.connected == 0  # accepted on the desk while the phone still rings
        desk.wait_for_selector("#call-controls", state="visible")
        assert desk.text_content("#offer-status") == "已接通客户。"
        screenshot(desk, "desk-sip-talking-zh")
        deadline = time.monotonic() + RING_MS / 1000 + 10
        while board.stats.connected == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert board.stats.connected == 1, "the phone's answer was not bridged to the caller"
        assert desk.get_attribute("#desk-state", "data-state") == "talking"

        # Hold and resume by keyboard: the focus follows the button that replaces the pressed one.
        desk.focus("#call-hold")
        desk.keyboard.press("Enter")
        desk.wait_for_selector("#call-controls[data-held='true']", timeout=WAIT_MS)
        assert desk.text_content("#desk-error") == "已将客户置于保持状态。"
        assert desk.get_attribute("#desk-error", "data-kind") == "ack"
        assert desk.evaluate("document.activeElement.id") == "call-unhold"
        screenshot(desk, "desk-sip-held-zh")
        time.sleep(HOLD_S)
        desk.keyboard.press("Enter")
        desk.wait_for_selector("#call-controls[data-held='false']", timeout=WAIT_MS)
        assert desk.text_content("#desk-error") == "已恢复与客户的通话。"
        assert desk.evaluate("document.activeElement.id") == "call-hold"

        desk.keyboard.press("Tab")  # Resume/Hold, then Hang up
        assert desk.evaluate("document.activeElement.id") == "call-hangup"
        desk.keyboard.press("Enter")
        desk.wait_for_selector("#desk-state[data-state='wrap_up']", timeout=WAIT_MS)
        assert desk.is_hidden("#call-controls") and desk.is_visible("#wrap-up")
        assert desk.evaluate("document.activeElement.id") == "disposition"  # the focus goes on with the wrap-up
        desk.wait_for_function("document.getElementById('desk-error').textContent === '通话已挂断。'")
        assert finished(calling, tmp_path, "caller") == 0  # got the BYE
        assert finished(phone, tmp_path, "phone-alice") == 0  # rang, answered, got the BYE through the front
        screenshot(desk, "desk-sip-wrap-up-zh")
        desk.keyboard.type("resolved")
        desk.keyboard.press("Enter")  # submits the wrap-up form
        desk.wait_for_selector("#desk-state[data-state='ready']", timeout=WAIT_MS)
        context.close()

    ((row, legs),) = interactions(db, f.tenant_id)
    assert (row.direction, row.entry_point, row.queue_id) == ("inbound", "ivr:main", f.queue_id)
    assert (row.status, row.disposition) == ("closed", "resolved")  # the wrap-up filed it on the record
    assert [(leg.party, leg.agent_id, leg.hangup_cause) for leg in legs] == [
        ("customer", None, "normal"),
        ("agent", alice, "normal"),
    ]
    assert row.answered_at is not None and row.ended_at is not None
    assert HOLD_S * 1000 <= row.hold_ms < (HOLD_S + 10) * 1000
    assert owners.of(f.tenant_id, f.slug).router.agents[alice].state is AgentState.READY
