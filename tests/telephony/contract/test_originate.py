"""Outbound calls: every way an originate can end."""

from __future__ import annotations

import pytest

from callvault.telephony import CallAnswered, CallHangup, CallOriginated, Direction, HangupCause
from callvault.telephony.sim import FarEnd
from tests.telephony.contract.conftest import play_out
from tests.telephony.contract.harness import EngineHarness
from tests.telephony.eventlog import EventLog

pytestmark = pytest.mark.engine_features("originate")

CAMPAIGN_CLI = "sip:+4930999000@bank.example"


def test_originate_answered_then_hung_up_by_us(harness: EngineHarness) -> None:
    async def scenario(h: EngineHarness, log: EventLog) -> None:
        debtor = h.callee("debtor", FarEnd(answer_after=1.0))
        call = await h.engine.originate(debtor, CAMPAIGN_CLI, ring_timeout=20.0)
        originated = await log.wait_for(CallOriginated, call)
        assert (originated.to_uri, originated.from_uri) == (debtor, CAMPAIGN_CLI)
        answered = await log.wait_for(CallAnswered, call)
        assert answered.direction is Direction.OUTBOUND
        await h.engine.hangup(call)
        assert (await log.wait_for(CallHangup, call)).cause is HangupCause.NORMAL
        assert log.names(call) == ["call.originated", "call.answered", "call.hangup"]

    play_out(harness, scenario)


def test_originate_answered_then_far_end_hangs_up(harness: EngineHarness) -> None:
    async def scenario(h: EngineHarness, log: EventLog) -> None:
        debtor = h.callee("debtor", FarEnd(answer_after=1.0, hangup_after=1.5))
        call = await h.engine.originate(debtor, CAMPAIGN_CLI, ring_timeout=20.0)
        await log.wait_for(CallAnswered, call)
        assert (await log.wait_for(CallHangup, call)).cause is HangupCause.NORMAL

    play_out(harness, scenario)


@pytest.mark.parametrize(
    ("far_end", "cause", "sip_code"),
    [
        pytest.param(FarEnd(answer_after=0.5, reject_code=486), HangupCause.BUSY, 486, id="busy"),
        pytest.param(FarEnd(answer_after=0.5, reject_code=603), HangupCause.REJECTED, 603, id="declined"),
        pytest.param(FarEnd(answer_probability=0.0, gives_up_after=1.5), HangupCause.NO_ANSWER, 480, id="no-answer"),
        pytest.param(FarEnd(answer_probability=0.0), HangupCause.NO_ANSWER, 487, id="ring-timeout"),
        pytest.param(FarEnd(answer_after=30.0), HangupCause.NO_ANSWER, 487, id="answers-too-late"),
    ],
)
def test_originate_not_answered(harness: EngineHarness, far_end: FarEnd, cause: HangupCause, sip_code: int) -> None:
    async def scenario(h: EngineHarness, log: EventLog) -> None:
        target = h.callee("prospect", far_end)
        call = await h.engine.originate(target, CAMPAIGN_CLI, ring_timeout=3.0)
        hangup = await log.wait_for(CallHangup, call)
        assert (hangup.cause, hangup.sip_code) == (cause, sip_code)
        assert log.names(call) == ["call.originated", "call.hangup"]

    play_out(harness, scenario)


def test_originate_to_unknown_number_fails(harness: EngineHarness) -> None:
    async def scenario(h: EngineHarness, log: EventLog) -> None:
        call = await h.engine.originate(h.unreachable_uri(), CAMPAIGN_CLI, ring_timeout=5.0)
        assert (await log.wait_for(CallHangup, call)).cause is HangupCause.FAILED

    play_out(harness, scenario)


def test_cancel_ringing_originate(harness: EngineHarness) -> None:
    async def scenario(h: EngineHarness, log: EventLog) -> None:
        target = h.callee("prospect", FarEnd(answer_after=10.0))
        call = await h.engine.originate(target, CAMPAIGN_CLI, ring_timeout=30.0)
        await log.wait_for(CallOriginated, call)
        await h.engine.hangup(call)
        hangup = await log.wait_for(CallHangup, call)
        assert hangup.cause is HangupCause.CANCELLED
        assert not log.of(CallAnswered, call)

    play_out(harness, scenario)
