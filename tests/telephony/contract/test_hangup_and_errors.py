"""Hangup causes of inbound legs, monitoring, and errors for legs that are gone."""

from __future__ import annotations

import pytest

from callvault.telephony import (
    CallAnswered,
    CallGone,
    CallHangup,
    CallOffered,
    HangupCause,
    InvalidCallState,
    MonitorMode,
    MonitorStarted,
    UnknownCall,
)
from callvault.telephony.events import CallId
from callvault.telephony.sim import FarEnd
from tests.telephony.contract.conftest import play_out
from tests.telephony.contract.harness import EngineHarness
from tests.telephony.eventlog import EventLog

CUSTOMER = "sip:+4930111222@pstn.example"
QUEUE = "sip:cards@bank.example"


def test_caller_abandons_before_answer(harness: EngineHarness) -> None:
    async def scenario(h: EngineHarness, log: EventLog) -> None:
        h.call_in(FarEnd(gives_up_after=1.5), from_uri=CUSTOMER, to_uri=QUEUE)
        call = (await log.wait_for(CallOffered)).call_id
        assert (await log.wait_for(CallHangup, call)).cause is HangupCause.CANCELLED
        with pytest.raises(CallGone):
            await h.engine.answer(call)

    play_out(harness, scenario)


def test_reject_offered_call(harness: EngineHarness) -> None:
    async def scenario(h: EngineHarness, log: EventLog) -> None:
        h.call_in(FarEnd(), from_uri=CUSTOMER, to_uri=QUEUE)
        call = (await log.wait_for(CallOffered)).call_id
        await h.engine.hangup(call, HangupCause.BUSY)
        assert (await log.wait_for(CallHangup, call)).cause is HangupCause.BUSY
        await h.engine.hangup(call)  # idempotent
        assert len(log.of(CallHangup, call)) == 1

    play_out(harness, scenario)


def test_operations_on_gone_unknown_and_unanswered_legs(harness: EngineHarness) -> None:
    async def scenario(h: EngineHarness, log: EventLog) -> None:
        h.call_in(FarEnd(), from_uri=CUSTOMER, to_uri=QUEUE)
        call = (await log.wait_for(CallOffered)).call_id
        with pytest.raises(InvalidCallState):
            await h.engine.play(call, h.prompt)
        await h.engine.answer(call)
        await h.engine.hangup(call)
        await log.wait_for(CallHangup, call)
        with pytest.raises(CallGone):
            await h.engine.collect_digits(call, max_digits=1, digit_timeout=1.0)
        with pytest.raises(UnknownCall):
            await h.engine.answer(CallId("no-such-leg"))

    play_out(harness, scenario)


@pytest.mark.engine_features("originate", "bridge", "monitor")
def test_supervisor_listen_whisper_barge(harness: EngineHarness) -> None:
    async def scenario(h: EngineHarness, log: EventLog) -> None:
        h.call_in(FarEnd(hangup_after=120.0), from_uri=CUSTOMER, to_uri=QUEUE)
        caller = (await log.wait_for(CallOffered)).call_id
        await h.engine.answer(caller)
        agent = await h.engine.originate(h.callee("agent", FarEnd(answer_after=1.0)), QUEUE, ring_timeout=10.0)
        supervisor = await h.engine.originate(h.callee("sup", FarEnd(answer_after=1.0)), QUEUE, ring_timeout=10.0)
        await log.wait_for(CallAnswered, agent)
        await log.wait_for(CallAnswered, supervisor)
        await h.engine.bridge(caller, agent)
        await h.engine.listen(supervisor, agent)
        await h.engine.whisper(supervisor, agent)
        await h.engine.barge(supervisor, agent)
        await log.wait_for(MonitorStarted, supervisor, nth=3)
        modes = [e.mode for e in log.of(MonitorStarted, supervisor)]
        assert modes == [MonitorMode.LISTEN, MonitorMode.WHISPER, MonitorMode.BARGE]
        assert all(e.agent_call_id == agent for e in log.of(MonitorStarted, supervisor))
        for leg in (caller, agent, supervisor):
            await h.engine.hangup(leg)

    play_out(harness, scenario)


def test_event_stream_is_gapless_and_hangup_is_last(harness: EngineHarness) -> None:
    async def scenario(h: EngineHarness, log: EventLog) -> None:
        h.call_in(FarEnd(digits=FarEnd.presses("12", start=0.1), hangup_after=2.0), from_uri=CUSTOMER, to_uri=QUEUE)
        call = (await log.wait_for(CallOffered)).call_id
        await h.engine.answer(call)
        await log.wait_for(CallHangup, call)
        seqs = [e.seq for e in log.events]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        assert log.names(call) == ["call.offered", "call.answered", "call.dtmf", "call.dtmf", "call.hangup"]
        times = [e.at for e in log.events]
        assert times == sorted(times)

    play_out(harness, scenario)
