"""Runs a published flow for one answered call on the telephony `Engine` port.

The interpreter keeps a call context (variables, collected digits, the IVR path of visited nodes, the last
look-up answer) and ends with an `Outcome` - queued, transferred, voicemail, callback, hung up - that the caller
of the interpreter hands to the ACD. Two guarantees hold whatever the flow or the institution's systems do:

* the caller never waits in silence longer than the flow's ``max_silence_seconds`` while CallVault works (a slow
  look-up plays the filler prompt each time the limit is reached, and takes ``on_error`` at its timeout);
* a flow runs at most ``max_steps`` nodes, then the call is ended politely (a runaway flow cannot hold a line).
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

import structlog

from callvault.core import clock as app_clock
from callvault.ivr import speech
from callvault.ivr.flow import (
    WEEKDAYS,
    CallbackNode,
    CollectNode,
    CompareTest,
    ConditionNode,
    FlowDocument,
    HangupNode,
    HolidayTest,
    LookupNode,
    MenuNode,
    Node,
    OpenTest,
    PlayNode,
    Predicate,
    PriorityFrom,
    Prompt,
    QueueNode,
    SetNode,
    TransferNode,
    VoicemailNode,
)
from callvault.ivr.lookup import LookupClient, LookupFailed
from callvault.ivr.speech import Scalar
from callvault.telephony.events import CallId
from callvault.telephony.port import (
    AudioFile,
    CallGone,
    CollectionEnd,
    DigitCollection,
    Engine,
    PlaybackOutcome,
    SpeechText,
    TelephonyError,
)
from callvault.telephony.port import Prompt as EnginePrompt

log = structlog.get_logger(__name__)

STEP_LIMIT_PROMPT = Prompt(say="抱歉。系统繁忙。请稍后再拨。")


class Clock(Protocol):
    """The engine's time: monotonic seconds for real engines, virtual seconds for the sim engine."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class LoopClock:
    """Wall time of the running event loop (real engines)."""

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class OutcomeKind(enum.StrEnum):
    QUEUED = "queued"
    TRANSFERRED = "transferred"
    VOICEMAIL = "voicemail"
    CALLBACK = "callback"
    HUNG_UP = "hung_up"  # the flow ended the call
    CALLER_HUNG_UP = "caller_hung_up"
    FAILED = "failed"  # the engine failed under the call


@dataclass
class CallContext:
    """What the IVR learnt about one call. Digits and variables may be customer data: never log them."""

    call_id: CallId
    variables: dict[str, Scalar]
    digits: list[str] = field(default_factory=list)
    path: list[str] = field(default_factory=list)
    lookup: dict[str, Scalar] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    kind: OutcomeKind
    context: CallContext
    queue: str | None = None
    priority: int = 0
    skills: dict[str, int] = field(default_factory=dict)
    number: str | None = None  # transfer target or callback number
    mailbox: str | None = None
    reason: str = ""


class _CallerLeft(Exception):
    pass


class Interpreter:
    """Runs flows on one engine. ``lookups`` signs the institution look-ups (None: every look-up fails over);
    ``prompt_root`` holds the institution's WAV prompts; ``wall_now`` gives the date and time for business hours."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Clock | None = None,
        lookups: LookupClient | None = None,
        prompt_root: Path,
        wall_now: Callable[[], datetime] = app_clock.now,
    ) -> None:
        self.engine = engine
        self.clock = clock or LoopClock()
        self.lookups = lookups
        self.prompt_root = prompt_root
        self.wall_now = wall_now

    async def run(
        self,
        doc: FlowDocument,
        call_id: CallId,
        *,
        caller: str = "",
        dialled: str = "",
        variables: Mapping[str, Scalar] | None = None,
    ) -> Outcome:
        """Run ``doc`` for an answered call until it reaches a final node, the caller leaves or the step limit.
        ``variables`` are known before the call (e.g. given by the institution that ordered an outbound call)."""
        ctx = CallContext(call_id=call_id, variables={**(variables or {}), "caller": caller, "dialled": dialled})
        run = _Run(self, doc, ctx)
        try:
            outcome = await run.execute()
        except (_CallerLeft, CallGone):
            outcome = Outcome(OutcomeKind.CALLER_HUNG_UP, ctx)
        except TelephonyError as exc:
            outcome = Outcome(OutcomeKind.FAILED, ctx, reason=type(exc).__name__)
        except Exception as exc:
            # A defect must not leave the caller on a dead line with nobody told: the handler gets an outcome.
            log.exception("ivr interpreter error", node=ctx.path[-1] if ctx.path else "")
            outcome = Outcome(OutcomeKind.FAILED, ctx, reason=type(exc).__name__)
        log.info("ivr call finished", outcome=outcome.kind.value, steps=len(ctx.path), reason=outcome.reason)
        return outcome


class _Run:
    """One call through one flow."""

    def __init__(self, interpreter: Interpreter, doc: FlowDocument, ctx: CallContext) -> None:
        self.i = interpreter
        self.engine = interpreter.engine
        self.doc = doc
        self.ctx = ctx

    async def execute(self) -> Outcome:
        node_id = self.doc.start
        while True:
            if len(self.ctx.path) >= self.doc.max_steps:
                await self.play(STEP_LIMIT_PROMPT)
                await self.engine.hangup(self.ctx.call_id)
                return Outcome(OutcomeKind.HUNG_UP, self.ctx, reason="step_limit")
            self.ctx.path.append(node_id)
            step = await self.step(self.doc.nodes[node_id])
            if isinstance(step, Outcome):
                return step
            node_id = step

    # --- media ------------------------------------------------------------------------------------------

    def engine_prompt(self, prompt: Prompt) -> EnginePrompt:
        if prompt.file is not None:
            return AudioFile(self.i.prompt_root / prompt.file)
        text = speech.render(prompt.say or "", self.ctx.variables)
        return SpeechText(text, language=prompt.language or self.doc.language)

    async def play(self, prompt: Prompt | None, *, interruptible: bool = False) -> None:
        if prompt is None:
            return
        audio = self.engine_prompt(prompt)
        if isinstance(audio, AudioFile) and not audio.path.is_file():
            # Checked at publish; a file removed since must not end the call: the flow goes on without it.
            log.warning("ivr prompt file missing", node=self.ctx.path[-1], prompt=prompt.file)
            return
        ended = await self.engine.play(self.ctx.call_id, audio, interrupt_on_dtmf=interruptible)
        if ended is PlaybackOutcome.HANGUP:
            raise _CallerLeft()

    async def collect(self, *, max_digits: int, wait: float, terminator: str | None) -> DigitCollection:
        got = await self.engine.collect_digits(
            self.ctx.call_id, max_digits=max_digits, digit_timeout=wait, terminator=terminator
        )
        if got.ended_by is CollectionEnd.HANGUP:
            raise _CallerLeft()
        return got

    # --- nodes ------------------------------------------------------------------------------------------

    async def step(self, node: Node) -> str | Outcome:
        if isinstance(node, PlayNode):
            await self.play(node.prompt)
            return node.next
        if isinstance(node, MenuNode):
            return await self.menu(node)
        if isinstance(node, CollectNode):
            return await self.collect_node(node)
        if isinstance(node, ConditionNode):
            return next((b.next for b in node.branches if self.holds(b.when)), node.otherwise)
        if isinstance(node, LookupNode):
            return await self.lookup(node)
        if isinstance(node, SetNode):
            rendered = {name: speech.render(value, self.ctx.variables) for name, value in node.variables.items()}
            self.ctx.variables.update(rendered)
            return node.next
        return await self.final(node)

    async def final(self, node: QueueNode | TransferNode | VoicemailNode | CallbackNode | HangupNode) -> Outcome:
        await self.play(node.prompt)
        ctx = self.ctx
        if isinstance(node, QueueNode):
            return Outcome(
                OutcomeKind.QUEUED, ctx, queue=node.queue, priority=self.priority(node), skills=dict(node.skills)
            )
        if isinstance(node, TransferNode):
            return Outcome(OutcomeKind.TRANSFERRED, ctx, number=speech.render(node.number, ctx.variables))
        if isinstance(node, VoicemailNode):
            return Outcome(OutcomeKind.VOICEMAIL, ctx, mailbox=node.mailbox)
        if isinstance(node, CallbackNode):
            return Outcome(
                OutcomeKind.CALLBACK, ctx, queue=node.queue, number=speech.render(node.number, ctx.variables)
            )
        await self.engine.hangup(ctx.call_id)
        return Outcome(OutcomeKind.HUNG_UP, ctx)

    async def menu(self, node: MenuNode) -> str:
        failures = 0
        while True:
            await self.play(node.prompt, interruptible=True)
            got = await self.collect(max_digits=1, wait=node.timeout, terminator=None)
            if got.digits in node.options:
                self.ctx.digits.append(got.digits)
                return node.options[got.digits]
            silent = not got.digits
            failures += 1
            if failures > node.retries:
                return (node.on_timeout or node.on_invalid) if silent else node.on_invalid
            await self.play(node.timeout_prompt if silent else node.invalid_prompt, interruptible=True)

    async def collect_node(self, node: CollectNode) -> str:
        failures = 0
        while True:
            await self.play(node.prompt, interruptible=True)
            # With a terminator, room for one more key: the caller's "#" after a full number ends the
            # collection instead of being left over for the next menu; one digit too many is an input error.
            room = node.max_length + (1 if node.terminator else 0)
            got = await self.collect(max_digits=room, wait=node.timeout, terminator=node.terminator)
            if node.min_length <= len(got.digits) <= node.max_length:
                self.ctx.variables[node.into] = got.digits
                self.ctx.digits.append(got.digits)
                return node.next
            failures += 1
            if failures > node.retries:
                return node.on_fail
            await self.play(node.invalid_prompt, interruptible=True)

    async def lookup(self, node: LookupNode) -> str:
        """Ask the institution while keeping the caller company; its timeout or failure means ``on_error``."""
        if self.i.lookups is None:
            return node.on_error
        payload = {name: self.ctx.variables.get(name) for name in node.send}
        task = asyncio.ensure_future(self.i.lookups.lookup(node.url, payload, limit=node.timeout))
        deadline = self.i.clock.now() + node.timeout
        try:
            while not task.done():
                remaining = deadline - self.i.clock.now()
                if remaining <= 0:
                    break
                sleeper = asyncio.ensure_future(self.i.clock.sleep(min(self.doc.max_silence_seconds, remaining)))
                try:
                    await asyncio.wait({task, sleeper}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    sleeper.cancel()
                if task.done() or self.i.clock.now() >= deadline:
                    break
                await self.play(node.filler or self.doc.filler)  # the silence limit is reached
        finally:
            if not task.done():
                task.cancel()
        if not task.done() or task.cancelled():
            log.warning("ivr lookup abandoned at the flow's timeout", node=self.ctx.path[-1])
            return node.on_error
        failure = task.exception()
        if failure is not None:
            if not isinstance(failure, LookupFailed):
                log.warning("ivr lookup error", node=self.ctx.path[-1], error=type(failure).__name__)
            return node.on_error
        answer = task.result()
        missing = [name for name in node.results.values() if name not in answer]
        if missing:
            log.warning("ivr lookup answer lacks result fields", node=self.ctx.path[-1], missing=len(missing))
            return node.on_error
        self.ctx.lookup = dict(answer)
        self.ctx.variables.update({var: answer[name] for var, name in node.results.items()})
        return node.next

    # --- values -----------------------------------------------------------------------------------------

    def priority(self, node: QueueNode) -> int:
        rule = node.priority
        if not isinstance(rule, PriorityFrom):
            return rule
        value = speech.as_text(self.ctx.variables.get(rule.variable))
        if rule.map:
            return rule.map.get(value, rule.default)
        number = _number(value)
        if number is None or number != number.to_integral_value() or not 0 <= number <= 100:
            return rule.default
        return int(number)

    def holds(self, test: Predicate) -> bool:
        local = self.i.wall_now().astimezone(ZoneInfo(self.doc.timezone))
        if isinstance(test, HolidayTest):
            return local.date() in self.doc.holidays
        if isinstance(test, OpenTest):
            if local.date() in self.doc.holidays:
                return False
            ranges = self.doc.business_hours.get(WEEKDAYS[local.weekday()], [])
            moment = local.time().replace(tzinfo=None)
            return any(r.start <= moment < r.end for r in ranges)
        return _compare(test, self.ctx.variables.get(test.variable))


def _number(value: str) -> Decimal | None:
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _compare(test: CompareTest, value: Scalar) -> bool:
    text = speech.as_text(value)
    op, wanted = test.op, test.value
    if op == "empty":
        return text == ""
    if op == "not_empty":
        return text != ""
    if op == "in":
        return isinstance(wanted, list) and text in wanted
    if isinstance(wanted, list) or wanted is None:
        return False
    wanted_text = speech.as_text(wanted)
    if op == "starts_with":
        return text.startswith(wanted_text)
    left, right = _number(text), _number(wanted_text)
    if op in ("eq", "ne"):
        same = left == right if left is not None and right is not None else text == wanted_text
        return same if op == "eq" else not same
    if left is None or right is None:
        return False
    return {"lt": left < right, "le": left <= right, "gt": left > right, "ge": left >= right}[op]
