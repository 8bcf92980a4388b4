"""Inbound call to an IVR: answer, play a prompt, collect digits."""

from __future__ import annotations

import pytest

from callvault.telephony import (
    CallAnswered,
    CallHangup,
    CallId,
    CallOffered,
    CollectionEnd,
    Direction,
    DtmfReceived,
    HangupCause,
    PlaybackOutcome,
    SpeechText,
)
from callvault.telephony.sim import FarEnd
from tests.telephony.contract.conftest import play_out
from tests.telephony.contract.harness import EngineHarness
from tests.telephony.eventlog import EventLog

CUSTOMER = "sip:+4930111222@pstn.example"
IVR = "sip:service@bank.example"


async def _answer_offer(harness: EngineHarness, log: EventLog, far_end: FarEnd) -> CallId:
    harness.call_in(far_end, from_uri=CUSTOMER, to_uri=IVR)
    offered = await log.wait_for(CallOffered)
    assert (offered.from_uri, offered.to_uri) == (CUSTOMER, IVR)
    await harness.engine.answer(offered.call_id)
    answered = await log.wait_for(CallAnswered, offered.call_id)
    assert answered.direction is Direction.INBOUND
    return offered.call_id


def test_answer_play_and_collect_account_number(harness: EngineHarness) -> None:
    caller = FarEnd(digits=FarEnd.presses("1234#", start=0.4, gap=0.3), hangup_after=20.0)

    async def scenario(h: EngineHarness, log: EventLog) -> None:
        call = await _answer_offer(h, log, caller)
        # Digits pressed during the prompt are kept as type-ahead.
        assert await h.engine.play(call, h.prompt) is PlaybackOutcome.COMPLETED
        result = await h.engine.collect_digits(call, max_digits=8, digit_timeout=5.0, terminator="#")
        assert (result.digits, result.ended_by) == ("1234", CollectionEnd.TERMINATOR)
        assert [e.digit for e in log.of(DtmfReceived, call)] == list("1234#")
        await h.engine.hangup(call)
        hangup = await log.wait_for(CallHangup, call)
        assert hangup.cause is HangupCause.NORMAL
        assert log.names(call) == [
            "call.offered",
            "call.answered",
            *["call.dtmf"] * 5,
            "call.hangup",
        ]

    play_out(harness, scenario)


def test_collect_stops_at_max_digits_and_keeps_the_rest(harness: EngineHarness) -> None:
    caller = FarEnd(digits=FarEnd.presses("98765", start=0.2, gap=0.2), hangup_after=20.0)

    async def scenario(h: EngineHarness, log: EventLog) -> None:
        call = await _answer_offer(h, log, caller)
        first = await h.engine.collect_digits(call, max_digits=3, digit_timeout=5.0)
        second = await h.engine.collect_digits(call, max_digits=2, digit_timeout=5.0, terminator=None)
        assert (first.digits, first.ended_by) == ("987", CollectionEnd.MAX_DIGITS)
        assert (second.digits, second.ended_by) == ("65", CollectionEnd.MAX_DIGITS)
        await h.engine.hangup(call)

    play_out(harness, scenario)


def test_collect_times_out_with_partial_digits(harness: EngineHarness) -> None:
    caller = FarEnd(digits=FarEnd.presses("42", start=0.5), hangup_after=30.0)

    async def scenario(h: EngineHarness, log: EventLog) -> None:
        call = await _answer_offer(h, log, caller)
        result = await h.engine.collect_digits(call, max_digits=4, digit_timeout=1.0)
        assert (result.digits, result.ended_by) == ("42", CollectionEnd.TIMEOUT)
        await h.engine.hangup(call)

    play_out(harness, scenario)


@pytest.mark.engine_features("tts")
def test_digit_interrupts_prompt_and_is_collected(harness: EngineHarness) -> None:
    caller = FarEnd(digits=((0.3, "5"),), hangup_after=30.0)

    async def scenario(h: EngineHarness, log: EventLog) -> None:
        call = await _answer_offer(h, log, caller)
        menu = SpeechText("For card services press one. For loans press two. For anything else press five.")
        assert await h.engine.play(call, menu, interrupt_on_dtmf=True) is PlaybackOutcome.INTERRUPTED
        result = await h.engine.collect_digits(call, max_digits=1, digit_timeout=3.0)
        assert result.digits == "5"
        await h.engine.hangup(call)

    play_out(harness, scenario)


def test_caller_hangs_up_during_prompt_and_collection(harness: EngineHarness) -> None:
    caller = FarEnd(digits=FarEnd.presses("7", start=1.5), hangup_after=2.0)

    async def scenario(h: EngineHarness, log: EventLog) -> None:
        call = await _answer_offer(h, log, caller)
        assert await h.engine.play(call, h.prompt) is PlaybackOutcome.COMPLETED
        result = await h.engine.collect_digits(call, max_digits=4, digit_timeout=10.0)
        assert (result.digits, result.ended_by) == ("7", CollectionEnd.HANGUP)
        hangup = await log.wait_for(CallHangup, call)
        assert hangup.cause is HangupCause.NORMAL

    play_out(harness, scenario)
