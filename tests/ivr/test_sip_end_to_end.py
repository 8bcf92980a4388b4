"""End to end on the real SIP engine: SIPp calls the card-service DID, types the card number and "0" with RFC 4733
DTMF; the flow speaks Chinese TTS, asks a real institution server for the balance and queues the VIP caller."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from callvault.ivr.interpreter import Interpreter, Outcome, OutcomeKind
from callvault.ivr.lookup import LookupClient, LookupCredentials
from callvault.telephony import CallOffered, DtmfReceived
from callvault.telephony.sim import FarEnd
from tests.ivr.flows import card_service
from tests.ivr.institution import KEY_ID, SECRET, institution_server
from tests.ivr.test_interpreter import CALLER, DID, OPEN
from tests.telephony.contract.sip_harness import SipHarness
from tests.telephony.contract.sipp_far_end import caller_scenario
from tests.telephony.eventlog import EventLog

# Ports apart from the contract suite (5650...), tests/telephony/sip (5600...) and the demo (5060), so this test
# can run while those do.
SIP_PORT, RTP_PORT, SIPP_PORT, SIPP_MEDIA_PORT = 5680, 31600, 7680, 46600


class IvrSipHarness(SipHarness):
    """The contract suite's SIP harness on ports of its own."""

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)  # skips without SIPp or pjsua2
        from callvault.telephony.sip.engine import SipEngine

        self.sip = SipEngine(workdir=workdir, sip_port=SIP_PORT, rtp_port=RTP_PORT)
        self.engine = self.sip

    def call_in(self, far_end: FarEnd, *, from_uri: str, to_uri: str) -> None:
        n = len(self._callers)
        scenario = self.workdir / f"ivr-caller-{n}.xml"
        pcaps = self.workdir / f"ivr-caller-{n}"
        pcaps.mkdir()
        scenario.write_text(caller_scenario(far_end, from_uri=from_uri, to_uri=to_uri, workdir=pcaps))
        self._spawn_sipp(scenario, port=SIPP_PORT + n, media_port=SIPP_MEDIA_PORT + 10 * n, target=SIP_PORT)


def test_card_service_over_real_sip(tmp_path: Path) -> None:
    harness = IvrSipHarness(tmp_path)
    if "tts" not in harness.features:
        pytest.skip("espeak-ng is not installed")
    # Keys typed ahead while the greeting plays: the card number, then "0" for an agent, kept for the menu.
    caller = FarEnd(digits=(*FarEnd.presses("6217#", start=1.0, gap=0.3), (3.0, "0")), hangup_after=50.0)

    with institution_server() as bank:

        async def main() -> tuple[Outcome, list[str]]:
            await harness.start()
            log = EventLog(harness.engine)
            lookups = LookupClient(LookupCredentials(KEY_ID, SECRET), allow_insecure=True)
            try:
                harness.call_in(caller, from_uri=f"sip:{CALLER}@127.0.0.1", to_uri=f"sip:{DID}@127.0.0.1")
                offered = await harness.run(log.wait_for(CallOffered))
                await harness.engine.answer(offered.call_id)
                interpreter = Interpreter(harness.engine, lookups=lookups, prompt_root=tmp_path, wall_now=lambda: OPEN)
                outcome = await harness.run(interpreter.run(card_service(bank.url), offered.call_id, caller=CALLER))
                return outcome, [e.digit for e in log.of(DtmfReceived, offered.call_id)]
            finally:
                await lookups.aclose()
                await harness.stop()
                await log.close()

        outcome, digits = asyncio.run(main())
        seen = list(bank.seen)

    assert digits == list("6217#0")
    assert outcome.kind is OutcomeKind.QUEUED, outcome
    assert (outcome.queue, outcome.priority) == ("cards", 50)
    assert outcome.context.digits == ["6217", "0"]
    assert outcome.context.path[-3:] == ["say_balance", "main_menu", "to_agent"]
    assert len(seen) == 1 and seen[0].signature_ok and seen[0].body["card_last4"] == "6217"
