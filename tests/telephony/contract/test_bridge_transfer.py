"""Bridging a customer to agents, blind and consultative transfer."""

from __future__ import annotations

import asyncio

import pytest

from callvault.telephony import (
    CallAnswered,
    CallBridged,
    CallHangup,
    CallHeld,
    CallId,
    CallOffered,
    CallTransferred,
    CallUnbridged,
    CallUnheld,
    HangupCause,
    PlaybackOutcome,
)
from callvault.telephony.sim import FarEnd
from tests.telephony.contract.conftest import play_out
from tests.telephony.contract.harness import EngineHarness
from tests.telephony.eventlog import EventLog

pytestmark = pytest.mark.engine_features("originate", "bridge", "hold")

CUSTOMER = "sip:+4930111222@pstn.example"
QUEUE = "sip:cards@bank.example"


async def _customer_with_agent(
    h: EngineHarness, log: EventLog, *, customer: FarEnd | None = None
) -> tuple[CallId, CallId]:
    h.call_in(customer or FarEnd(hangup_after=120.0), from_uri=CUSTOMER, to_uri=QUEUE)
    caller = (await log.wait_for(CallOffered)).call_id
    await h.engine.answer(caller)
    agent = await h.engine.originate(h.callee("agent-1", FarEnd(answer_after=1.0)), QUEUE, ring_timeout=15.0)
    await log.wait_for(CallAnswered, agent)
    return caller, agent


def test_bridge_two_legs_and_partner_hangup_unbridges(harness: EngineHarness) -> None:
    async def scenario(h: EngineHarness, log: EventLog) -> None:
        caller, agent = await _customer_with_agent(h, log, customer=FarEnd(hangup_after=5.0))
        bridge = await h.engine.bridge(caller, agent)
        on_caller = await log.wait_for(CallBridged, caller)
        on_agent = await log.wait_for(CallBridged, agent)
        assert on_caller.bridge_id == on_agent.bridge_id == bridge
        assert (on_caller.other_call_id, on_agent.other_call_id) == (agent, caller)
        # The customer hangs up; the agent leg stays up, out of the bridge.
        assert (await log.wait_for(CallHangup, caller)).cause is HangupCause.NORMAL
        assert (await log.wait_for(CallUnbridged, agent)).bridge_id == bridge
        assert not log.of(CallHangup, agent)
        await h.engine.hangup(agent)
        await log.wait_for(CallHangup, agent)

    play_out(harness, scenario)


def test_hold_and_unhold_with_music(harness: EngineHarness) -> None:
    async def scenario(h: EngineHarness, log: EventLog) -> None:
        caller, agent = await _customer_with_agent(h, log)
        await h.engine.bridge(caller, agent)
        await h.engine.hold(caller, music=h.music)
        await log.wait_for(CallHeld, caller)
        await h.engine.unhold(caller)
        await log.wait_for(CallUnheld, caller)
        assert log.names(caller)[-2:] == ["call.held", "call.unheld"]
        assert not log.of(CallUnbridged, caller)  # hold keeps the bridge
        await h.engine.hangup(caller)
        await h.engine.hangup(agent)

    play_out(harness, scenario)


def test_blind_transfer_to_second_agent(harness: EngineHarness) -> None:
    async def scenario(h: EngineHarness, log: EventLog) -> None:
        caller, agent = await _customer_with_agent(h, log)
        await h.engine.bridge(caller, agent)
        specialist = h.callee("loans-desk", FarEnd(answer_after=2.0))
        new_leg = await h.engine.transfer(caller, to_uri=specialist)
        hangup = await log.wait_for(CallHangup, agent)
        assert hangup.cause is HangupCause.TRANSFERRED
        transferred = await log.wait_for(CallTransferred, caller)
        assert (transferred.target_call_id, transferred.replaced_call_id) == (new_leg, agent)
        bridged = await log.wait_for(CallBridged, caller, nth=2)
        assert bridged.other_call_id == new_leg
        await h.engine.hangup(caller)
        await h.engine.hangup(new_leg)

    play_out(harness, scenario)


def test_blind_transfer_to_busy_target_leaves_customer_up(harness: EngineHarness) -> None:
    async def scenario(h: EngineHarness, log: EventLog) -> None:
        caller, agent = await _customer_with_agent(h, log)
        await h.engine.bridge(caller, agent)
        busy = h.callee("busy-desk", FarEnd(answer_after=0.5, reject_code=486))
        new_leg = await h.engine.transfer(caller, to_uri=busy)
        assert (await log.wait_for(CallHangup, new_leg)).cause is HangupCause.BUSY
        assert not log.of(CallHangup, caller)
        assert not log.of(CallTransferred, caller)
        await h.engine.hangup(caller)

    play_out(harness, scenario)


def test_consultative_transfer(harness: EngineHarness) -> None:
    async def scenario(h: EngineHarness, log: EventLog) -> None:
        caller, agent = await _customer_with_agent(h, log)
        await h.engine.bridge(caller, agent)
        # Agent 1 puts the customer on hold and consults agent 2.
        await h.engine.hold(caller, music=h.music)
        consulted = await h.engine.originate(h.callee("agent-2", FarEnd(answer_after=1.0)), QUEUE, ring_timeout=15.0)
        await log.wait_for(CallAnswered, consulted)
        await h.engine.bridge(agent, consulted)
        assert (await log.wait_for(CallUnbridged, caller)).call_id == caller
        # Agent 1 completes the transfer: customer and agent 2 talk, agent 1 leaves.
        assert await h.engine.transfer(caller, consultation=consulted) == consulted
        assert (await log.wait_for(CallHangup, agent)).cause is HangupCause.TRANSFERRED
        await log.wait_for(CallUnheld, caller)
        transferred = await log.wait_for(CallTransferred, caller)
        assert (transferred.target_call_id, transferred.replaced_call_id) == (consulted, agent)
        assert (await log.wait_for(CallBridged, caller, nth=2)).other_call_id == consulted
        await h.engine.hangup(caller)
        await h.engine.hangup(consulted)

    play_out(harness, scenario)


def test_bridge_stops_queue_music_and_prompt(harness: EngineHarness) -> None:
    async def scenario(h: EngineHarness, log: EventLog) -> None:
        h.call_in(FarEnd(hangup_after=120.0), from_uri=CUSTOMER, to_uri=QUEUE)
        caller = (await log.wait_for(CallOffered)).call_id
        await h.engine.answer(caller)
        await h.engine.hold(caller, music=h.music)  # waiting in the queue
        agent = await h.engine.originate(h.callee("agent-1", FarEnd(answer_after=1.0)), QUEUE, ring_timeout=15.0)
        await log.wait_for(CallAnswered, agent)
        announcement = asyncio.ensure_future(h.engine.play(agent, h.prompt))  # e.g. the queue name, 1 s
        await h.pause(0.2)
        await h.engine.bridge(caller, agent)
        assert await announcement is PlaybackOutcome.INTERRUPTED
        assert log.names(caller)[-2:] == ["call.unheld", "call.bridged"]
        await h.engine.hangup(caller)
        await h.engine.hangup(agent)

    play_out(harness, scenario)
