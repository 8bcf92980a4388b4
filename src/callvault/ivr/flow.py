"""The IVR flow document: a declarative graph of nodes per institution, written in JSON or YAML.

The document is parsed into these Pydantic models (a discriminated union on ``type``); structural mistakes
(unknown fields, wrong types, bad ranges) are caught here, graph and reference mistakes by `validator`.
"""

from __future__ import annotations

import json
from datetime import date, time
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from callvault.core.errors import FieldError, InvalidInput

NODE_ID = r"^[a-z][a-z0-9_]{0,63}$"
VARIABLE = r"^[a-z][a-z0-9_]{0,39}$"
SKILL = r"^[a-z0-9][a-z0-9_.-]{0,59}$"
# Prompt files live in the institution's prompt directory; no absolute paths, no way out of it.
PROMPT_FILE = r"^[A-Za-z0-9_][A-Za-z0-9_-]*(/[A-Za-z0-9_][A-Za-z0-9_-]*)*\.wav$"
DTMF_KEY = r"^[0-9*#]$"
MAX_DOCUMENT_BYTES = 256 * 1024

NodeId = Annotated[str, Field(pattern=NODE_ID)]
Variable = Annotated[str, Field(pattern=VARIABLE)]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _text_keys(value: Any) -> Any:
    # YAML reads `{1: main}` with an integer key; authors mean the key "1".
    if isinstance(value, dict):
        return {str(k) if isinstance(k, int) and not isinstance(k, bool) else k: v for k, v in value.items()}
    return value


class Prompt(Strict):
    """Exactly one of a WAV file (``file``) or text-to-speech (``say``, may contain ``{variable}`` fields)."""

    file: str | None = Field(default=None, pattern=PROMPT_FILE, max_length=200)
    say: str | None = Field(default=None, min_length=1, max_length=2000)
    language: str | None = Field(default=None, pattern=r"^[a-z]{2}(-[A-Za-z]{2,4})?$")

    @model_validator(mode="after")
    def _one_source(self) -> Prompt:
        if (self.file is None) == (self.say is None):
            raise ValueError("give exactly one of 'file' and 'say'")
        return self


class TimeRange(Strict):
    start: time
    end: time

    @model_validator(mode="after")
    def _ordered(self) -> TimeRange:
        if self.start >= self.end:
            raise ValueError("start must be before end")
        return self

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        # "09:00-18:00" is how people write opening hours.
        if isinstance(value, str):
            start, sep, end = value.partition("-")
            if not sep:
                raise ValueError("write a range as HH:MM-HH:MM")
            return {"start": start.strip(), "end": end.strip()}
        return value


# --- conditions -------------------------------------------------------------------------------------------


class OpenTest(Strict):
    """True within the business hours of the current weekday (institution time zone), never on a holiday."""

    test: Literal["open"]


class HolidayTest(Strict):
    test: Literal["holiday"]


CompareOp = Literal["eq", "ne", "lt", "le", "gt", "ge", "in", "empty", "not_empty", "starts_with"]


class CompareTest(Strict):
    """Compare a variable (collected digits, look-up result, ...) with a value; lt/le/gt/ge compare numbers."""

    test: Literal["compare"]
    variable: Variable
    op: CompareOp
    value: str | int | float | bool | list[str] | None = None

    @model_validator(mode="after")
    def _value_fits_op(self) -> CompareTest:
        if self.op in ("empty", "not_empty"):
            if self.value is not None:
                raise ValueError(f"'{self.op}' takes no value")
        elif self.op == "in":
            if not isinstance(self.value, list):
                raise ValueError("'in' needs a list of values")
        elif self.value is None or isinstance(self.value, list):
            raise ValueError(f"'{self.op}' needs one value")
        if self.op in ("lt", "le", "gt", "ge") and (
            isinstance(self.value, bool) or not isinstance(self.value, int | float)
        ):
            raise ValueError(f"'{self.op}' compares numbers: give a number")
        return self


Predicate = Annotated[OpenTest | HolidayTest | CompareTest, Field(discriminator="test")]


class Branch(Strict):
    when: Predicate
    next: NodeId


# --- nodes ------------------------------------------------------------------------------------------------


class PlayNode(Strict):
    type: Literal["play"]
    prompt: Prompt
    next: NodeId


class MenuNode(Strict):
    """Play the prompt (a key interrupts it), wait for one key; retry on a wrong key or silence."""

    type: Literal["menu"]
    prompt: Prompt
    options: dict[Annotated[str, Field(pattern=DTMF_KEY)], NodeId] = Field(min_length=1)
    timeout: float = Field(default=5.0, gt=0, le=30)
    retries: int = Field(default=2, ge=0, le=5)
    invalid_prompt: Prompt | None = None
    timeout_prompt: Prompt | None = None
    on_invalid: NodeId
    on_timeout: NodeId | None = None  # defaults to on_invalid

    @field_validator("options", mode="before")
    @classmethod
    def _option_keys(cls, value: Any) -> Any:
        return _text_keys(value)


class CollectNode(Strict):
    """Collect a number of digits into a variable; retry when too short, too long or silent."""

    type: Literal["collect"]
    prompt: Prompt
    into: Variable
    min_length: int = Field(default=1, ge=1, le=32)
    max_length: int = Field(default=16, ge=1, le=32)
    timeout: float = Field(default=5.0, gt=0, le=30)
    terminator: Literal["#", "*"] | None = "#"
    retries: int = Field(default=2, ge=0, le=5)
    invalid_prompt: Prompt | None = None
    next: NodeId
    on_fail: NodeId

    @model_validator(mode="after")
    def _lengths(self) -> CollectNode:
        if self.min_length > self.max_length:
            raise ValueError("min_length must not exceed max_length")
        return self


class ConditionNode(Strict):
    """The first branch whose test holds decides; otherwise ``otherwise``."""

    type: Literal["condition"]
    branches: list[Branch] = Field(min_length=1, max_length=20)
    otherwise: NodeId


class LookupNode(Strict):
    """POST the listed variables to the institution's endpoint (HMAC-signed); map answer fields to variables.

    Slow (beyond ``timeout``), down or garbage: ``on_error``. While waiting the caller hears ``filler`` (or the
    flow's filler) whenever the flow's silence limit is reached."""

    type: Literal["lookup"]
    url: str = Field(pattern=r"^https?://[^\s]+$", max_length=500)
    send: list[Variable] = Field(default_factory=list, max_length=20)
    results: dict[Variable, Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{1,64}$")]] = Field(default_factory=dict)
    timeout: float = Field(default=3.0, gt=0, le=15)
    filler: Prompt | None = None
    next: NodeId
    on_error: NodeId


class SetNode(Strict):
    type: Literal["set"]
    variables: dict[Variable, Annotated[str, Field(max_length=500)]] = Field(min_length=1)
    next: NodeId


class PriorityFrom(Strict):
    """Caller priority from a variable: ``map`` turns its value into a priority; unmapped values give
    ``default``. Without a map the value itself must be a whole number 0..100."""

    variable: Variable
    map: dict[str, Annotated[int, Field(ge=0, le=100)]] = Field(default_factory=dict)
    default: int = Field(default=0, ge=0, le=100)

    @field_validator("map", mode="before")
    @classmethod
    def _map_keys(cls, value: Any) -> Any:
        return _text_keys(value)


class QueueNode(Strict):
    type: Literal["queue"]
    queue: str = Field(min_length=1, max_length=80)
    skills: dict[Annotated[str, Field(pattern=SKILL)], Annotated[int, Field(ge=1, le=10)]] = Field(default_factory=dict)
    priority: Annotated[int, Field(ge=0, le=100)] | PriorityFrom = 0
    prompt: Prompt | None = None


class TransferNode(Strict):
    type: Literal["transfer"]
    number: str = Field(min_length=1, max_length=200)  # a template, e.g. "+8610{extension}"
    prompt: Prompt | None = None


class VoicemailNode(Strict):
    type: Literal["voicemail"]
    mailbox: str = Field(min_length=1, max_length=80)
    prompt: Prompt | None = None


class CallbackNode(Strict):
    """Leave the line and keep the place in the queue; the agent who gets it calls ``number`` back."""

    type: Literal["callback"]
    queue: str = Field(min_length=1, max_length=80)
    number: str = Field(default="{caller}", min_length=1, max_length=200)
    prompt: Prompt | None = None


class HangupNode(Strict):
    type: Literal["hangup"]
    prompt: Prompt | None = None


Node = Annotated[
    PlayNode
    | MenuNode
    | CollectNode
    | ConditionNode
    | LookupNode
    | SetNode
    | QueueNode
    | TransferNode
    | VoicemailNode
    | CallbackNode
    | HangupNode,
    Field(discriminator="type"),
]
TERMINAL_TYPES = frozenset({"queue", "transfer", "voicemail", "callback", "hangup"})
INPUT_TYPES = frozenset({"menu", "collect"})
BUILTIN_VARIABLES = frozenset({"caller", "dialled"})


class FlowDocument(Strict):
    """One version of an institution's IVR flow."""

    start: NodeId
    language: str = Field(default="zh", pattern=r"^[a-z]{2}(-[A-Za-z]{2,4})?$")
    timezone: str = "Asia/Shanghai"
    business_hours: dict[Weekday, list[TimeRange]] = Field(default_factory=dict)
    holidays: list[date] = Field(default_factory=list, max_length=400)
    max_silence_seconds: float = Field(default=3.0, ge=0.5, le=15)
    max_steps: int = Field(default=200, ge=10, le=5000)
    filler: Prompt = Prompt(say="请稍候。")
    # Variables given by whoever starts the call (an institution ordering an outbound call): set from the start.
    inputs: list[Annotated[str, Field(pattern=VARIABLE)]] = Field(default_factory=list, max_length=20)
    nodes: dict[Annotated[str, Field(pattern=NODE_ID)], Node] = Field(min_length=1, max_length=500)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


def edges(node: Node) -> list[tuple[str, str]]:
    """Every (field, target node id) a node can continue to."""
    out: list[tuple[str, str]] = []
    if isinstance(node, PlayNode | CollectNode | LookupNode | SetNode):
        out.append(("next", node.next))
    if isinstance(node, MenuNode):
        out += [(f"options.{key}", target) for key, target in node.options.items()]
        out.append(("on_invalid", node.on_invalid))
        if node.on_timeout is not None:
            out.append(("on_timeout", node.on_timeout))
    if isinstance(node, CollectNode):
        out.append(("on_fail", node.on_fail))
    if isinstance(node, LookupNode):
        out.append(("on_error", node.on_error))
    if isinstance(node, ConditionNode):
        out += [(f"branches.{i}.next", b.next) for i, b in enumerate(node.branches)]
        out.append(("otherwise", node.otherwise))
    return out


def prompts_of(node: Node) -> list[tuple[str, Prompt]]:
    """Every (field, prompt) of a node."""
    found: list[tuple[str, Prompt | None]] = [
        (name, getattr(node, name, None)) for name in ("prompt", "invalid_prompt", "timeout_prompt", "filler")
    ]
    return [(name, prompt) for name, prompt in found if prompt is not None]


# --- parsing ----------------------------------------------------------------------------------------------


def _location(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "document"


def parse_document(raw: bytes | str | dict[str, Any], *, content_type: str = "application/json") -> FlowDocument:
    """A flow document from JSON or YAML text (or an already decoded mapping); InvalidInput names each mistake."""
    if isinstance(raw, dict):
        data: Any = raw
    else:
        text = raw.decode("utf-8", errors="strict") if isinstance(raw, bytes) else raw
        if len(text.encode()) > MAX_DOCUMENT_BYTES:
            raise InvalidInput.one("document", f"larger than {MAX_DOCUMENT_BYTES // 1024} KiB")
        try:
            data = yaml.safe_load(text) if "yaml" in content_type else json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInput.one("document", f"not valid JSON: {exc.msg} at line {exc.lineno}") from None
        except yaml.MarkedYAMLError as exc:
            where = f" at line {exc.problem_mark.line + 1}" if exc.problem_mark is not None else ""
            raise InvalidInput.one("document", f"not valid YAML: {exc.problem or exc.context}{where}") from None
        except yaml.YAMLError as exc:
            raise InvalidInput.one("document", f"not valid YAML: {_first_line(exc)}") from None
    if not isinstance(data, dict):
        raise InvalidInput.one("document", "must be a mapping with 'start' and 'nodes'")
    try:
        return FlowDocument.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(
            [FieldError(_location(tuple(err["loc"])), err["msg"]) for err in exc.errors(include_url=False)]
        ) from None


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def document_json(doc: FlowDocument) -> dict[str, Any]:
    """The stored form of a document (JSON-compatible, defaults included so a version never changes meaning)."""
    stored: dict[str, Any] = doc.model_dump(mode="json")
    return stored
