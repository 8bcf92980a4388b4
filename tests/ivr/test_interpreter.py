"""The interpreter on the sim engine through the bank card-service flow, with a real institution server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

import pytest

from callvault.ivr.flow import FlowDocument, parse_document
from callvault.ivr.interpreter import Interpreter, Outcome, OutcomeKind
from callvault.ivr.lookup import LookupClient, LookupCredentials
from callvault.telephony.sim import Directory, FarEnd
from tests.ivr.flows import card_service
from tests.ivr.institution import KEY_ID, SECRET, Institution, institution_server
from tests.ivr.simdrive import SpokenSimEngine, drive

CALLER = "+8613800138000"
DID = "+861088880000"
# A Tuesday at 10:30 in Beijing; a Tuesday at 23:00; the national holiday.
OPEN = datetime(2026, 12, 1, 2, 30, tzinfo=UTC)
NIGHT = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
HOLIDAY = datetime(2026, 10, 1, 2, 30, tzinfo=UTC)


class Call:
    def __init__(self, tmp_path: Path, doc: FlowDocument, *, at: datetime = OPEN) -> None:
        self.sim = SpokenSimEngine(directory=Directory(), recordings_dir=tmp_path, seed=3)
        self.doc = doc
        self.at = at
        self.prompt_root = Path("/nonexistent")

    def run(self, far_end: FarEnd) -> Outcome:
        async def main() -> Outcome:
            lookups = LookupClient(LookupCredentials(KEY_ID, SECRET), allow_insecure=True)
            interpreter = Interpreter(
                self.sim,
                clock=SimClock(self.sim),
                lookups=lookups,
                prompt_root=self.prompt_root,
                wall_now=lambda: self.at,
            )
            call = self.sim.offer_inbound(far_end, from_uri=f"sip:{CALLER}@pstn", to_uri=f"sip:{DID}@callvault")
            await self.sim.answer(call)
            try:
                return await drive(
                    self.sim,
                    interpreter.run(self.doc, call, caller=CALLER, dialled=DID),
                    busy=lambda: lookups.in_flight > 0,
                )
            finally:
                await lookups.aclose()

        return asyncio.run(main())

    def texts(self) -> list[str]:
        return [p.text for p in self.sim.played]


class SimClock:
    def __init__(self, sim: SpokenSimEngine) -> None:
        self.sim = sim

    def now(self) -> float:
        return self.sim.clock.now

    async def sleep(self, seconds: float) -> None:
        await self.sim.sleep(seconds)


@pytest.fixture
def bank() -> Iterator[Institution]:
    with institution_server() as server:
        yield server


def caller(keys: str, *, start: float = 1.0, gap: float = 0.4, hangup_after: float = 300.0) -> FarEnd:
    return FarEnd(digits=FarEnd.presses(keys, start=start, gap=gap), hangup_after=hangup_after)


def test_vip_hears_the_balance_and_reaches_the_card_queue_first(tmp_path: Path, bank: Institution) -> None:
    call = Call(tmp_path, card_service(bank.url))
    # Card digits typed ahead during the greeting; "0" for an agent while the menu plays.
    far_end = FarEnd(digits=(*FarEnd.presses("6217#", start=1.0, gap=0.3), (4.0, "0")), hangup_after=300.0)
    outcome = call.run(far_end)

    assert outcome.kind is OutcomeKind.QUEUED
    assert (outcome.queue, outcome.priority, outcome.skills) == ("cards", 50, {"mandarin": 1})
    assert outcome.context.path == [
        "greeting",
        "opening_hours",
        "identify",
        "balance_lookup",
        "say_balance",
        "main_menu",
        "to_agent",
    ]
    assert outcome.context.digits == ["6217", "0"]
    assert outcome.context.variables["tier"] == "vip"
    assert outcome.context.lookup["name"] == "Z"
    assert "您的账户余额为一千二百三十四元五角。" in call.texts()
    assert call.texts()[-1] == "正在为您转接人工服务。"
    assert bank.seen[0].signature_ok
    assert bank.seen[0].body == {"card_last4": "6217", "caller": CALLER}


def test_lost_card_from_the_menu(tmp_path: Path, bank: Institution) -> None:
    bank.answer = {"balance": 12.05, "tier": "standard"}
    call = Call(tmp_path, card_service(bank.url))
    outcome = call.run(
        FarEnd(digits=(*FarEnd.presses("6217#", start=1.0), (20.0, "1"), (30.0, "2")), hangup_after=300.0)
    )
    assert (outcome.kind, outcome.priority, outcome.skills) == (OutcomeKind.QUEUED, 80, {"lost_card": 2})
    assert call.texts().count("您的账户余额为十二元零五分。") == 2  # "1" repeats the balance


def test_slow_institution_fallback_within_the_timeout_and_never_silent(tmp_path: Path, bank: Institution) -> None:
    bank.delay = 6.0
    call = Call(tmp_path, card_service(bank.url, "/slow", timeout=3.0))
    outcome = call.run(FarEnd(digits=(*FarEnd.presses("6217#", start=1.0), (7.0, "0")), hangup_after=300.0))

    assert outcome.kind is OutcomeKind.QUEUED
    assert (outcome.queue, outcome.priority) == ("cards", 0)
    assert outcome.context.path[3:6] == ["balance_lookup", "sorry", "plain_menu"]
    played = call.sim.played
    fillers = [p for p in played if p.text == "请稍候。"]
    assert fillers, "a filler prompt keeps the caller company"
    # The look-up starts when "#" ends the card number (3.0 s after answer); from then until the apology the
    # caller never waits in silence longer than the flow's limit.
    lookup_began = 3.0
    sorry = next(i for i, p in enumerate(played) if p.text == "暂时无法查询余额。")
    during = [p for p in played[: sorry + 1] if p.start >= lookup_began]
    gaps = [during[0].start - lookup_began] + [b.start - a.end for a, b in pairwise(during)]
    assert max(gaps) <= 1.0 + 1e-6, gaps
    # The fallback was taken at the flow's timeout (3 s), not when the server answered (6 s).
    assert played[sorry].start - lookup_began <= 3.0 + 0.3


@pytest.mark.parametrize("path", ["/error", "/garbage", "/nested"])
def test_broken_institution_takes_the_fallback_branch(tmp_path: Path, bank: Institution, path: str) -> None:
    call = Call(tmp_path, card_service(bank.url, path))
    outcome = call.run(FarEnd(digits=(*FarEnd.presses("6217#", start=1.0), (4.0, "0")), hangup_after=300.0))
    assert outcome.context.path[3:5] == ["balance_lookup", "sorry"]
    assert (outcome.kind, outcome.priority) == (OutcomeKind.QUEUED, 0)
    assert "暂时无法查询余额。" in call.texts()


def test_outside_business_hours_and_on_holidays(tmp_path: Path) -> None:
    for at in (NIGHT, HOLIDAY):
        call = Call(tmp_path, card_service(), at=at)
        outcome = call.run(FarEnd(hangup_after=300.0))
        assert outcome.kind is OutcomeKind.HUNG_UP
        assert outcome.context.path == ["greeting", "opening_hours", "closed"]


def test_wrong_card_digits_retry_then_plain_menu(tmp_path: Path) -> None:
    call = Call(tmp_path, card_service())
    # "12#" is too short three times (first try + 2 retries): the caller is offered the plain menu.
    keys = tuple(press for i in range(3) for press in FarEnd.presses("12#", start=1.0 + 3 * i, gap=0.2))
    outcome = call.run(FarEnd(digits=(*keys, (12.0, "0")), hangup_after=300.0))
    assert outcome.context.path[2:4] == ["identify", "plain_menu"]
    assert call.texts().count("输入有误。") == 2
    assert outcome.kind is OutcomeKind.QUEUED


def test_silent_caller_is_asked_again_then_ends_politely(tmp_path: Path, bank: Institution) -> None:
    call = Call(tmp_path, card_service(bank.url))
    outcome = call.run(FarEnd(digits=FarEnd.presses("6217#", start=1.0), hangup_after=300.0))
    assert outcome.kind is OutcomeKind.HUNG_UP
    assert outcome.context.path[-2:] == ["main_menu", "goodbye"]
    assert call.texts().count("重听余额请按一。挂失请按二。人工服务请按零。") == 3


def test_caller_hangs_up_in_the_menu(tmp_path: Path, bank: Institution) -> None:
    call = Call(tmp_path, card_service(bank.url))
    outcome = call.run(FarEnd(digits=FarEnd.presses("6217#", start=1.0), hangup_after=12.0))
    assert outcome.kind is OutcomeKind.CALLER_HUNG_UP
    assert "main_menu" in outcome.context.path or "say_balance" in outcome.context.path


def test_step_limit_ends_a_runaway_flow(tmp_path: Path) -> None:
    doc = parse_document(
        {
            "start": "menu",
            "max_steps": 10,
            "nodes": {
                "menu": {
                    "type": "menu",
                    "prompt": {"say": "一"},
                    "options": {"1": "again", "9": "bye"},
                    "on_invalid": "bye",
                },
                "again": {"type": "play", "prompt": {"say": "再来"}, "next": "menu"},
                "bye": {"type": "hangup"},
            },
        }
    )
    call = Call(tmp_path, doc)
    outcome = call.run(FarEnd(digits=FarEnd.presses("1" * 30, start=0.5, gap=0.5), hangup_after=300.0))
    assert (outcome.kind, outcome.reason) == (OutcomeKind.HUNG_UP, "step_limit")
    assert len(outcome.context.path) == 10


def test_variables_conditions_and_final_nodes(tmp_path: Path) -> None:
    doc = parse_document(
        {
            "start": "ext",
            "nodes": {
                "ext": {
                    "type": "collect",
                    "prompt": {"say": "分机"},
                    "into": "ext",
                    "max_length": 4,
                    "next": "mark",
                    "on_fail": "vm",
                },
                "mark": {"type": "set", "variables": {"route": "x{ext}"}, "next": "which"},
                "which": {
                    "type": "condition",
                    "branches": [
                        {"when": {"test": "compare", "variable": "ext", "op": "ge", "value": 9000}, "next": "cb"},
                        {
                            "when": {"test": "compare", "variable": "route", "op": "starts_with", "value": "x1"},
                            "next": "xfer",
                        },
                    ],
                    "otherwise": "vm",
                },
                "xfer": {"type": "transfer", "number": "+86108888{ext}"},
                "cb": {"type": "callback", "queue": "cards"},
                "vm": {"type": "voicemail", "mailbox": "general"},
            },
        }
    )
    expected = {
        "1234#": (OutcomeKind.TRANSFERRED, "+861088881234"),
        "9001#": (OutcomeKind.CALLBACK, CALLER),
        "5555#": (OutcomeKind.VOICEMAIL, None),
    }
    for keys, (kind, number) in expected.items():
        call = Call(tmp_path, doc)
        outcome = call.run(FarEnd(digits=FarEnd.presses(keys, start=0.5), hangup_after=300.0))
        assert (outcome.kind, outcome.number) == (kind, number), keys


def test_prompt_file_removed_after_publish_does_not_end_the_call(tmp_path: Path) -> None:
    from tests.telephony.contract.harness import write_tone

    prompts = tmp_path / "prompts"
    prompts.mkdir()
    write_tone(prompts / "welcome.wav", seconds=0.5, hz=440.0)
    doc = parse_document(
        {
            "start": "welcome",
            "nodes": {
                "welcome": {"type": "play", "prompt": {"file": "welcome.wav"}, "next": "gone"},
                "gone": {"type": "play", "prompt": {"file": "gone.wav"}, "next": "q"},
                "q": {"type": "queue", "queue": "cards"},
            },
        }
    )
    call = Call(tmp_path, doc)
    call.prompt_root = prompts
    outcome = call.run(FarEnd(hangup_after=60.0))
    assert outcome.kind is OutcomeKind.QUEUED
    assert call.texts() == ["welcome.wav"]
