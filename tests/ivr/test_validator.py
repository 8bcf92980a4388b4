"""The publish validator: every mistake is refused with the node named, and the card-service flow passes."""

from __future__ import annotations

from typing import Any

import pytest

from callvault.core.errors import FieldError, InvalidInput
from callvault.ivr.flow import FlowDocument, parse_document
from callvault.ivr.validator import validate
from tests.ivr.flows import card_service

QUEUES = {"cards", "loans"}


def check(doc: dict[str, Any] | FlowDocument, *, files: frozenset[str] | set[str] = frozenset()) -> list[FieldError]:
    flow = doc if isinstance(doc, FlowDocument) else parse_document(doc)
    return validate(flow, known_queues=QUEUES, prompt_exists=lambda name: name in files)


def flow(**nodes: dict[str, Any]) -> dict[str, Any]:
    return {"start": next(iter(nodes)), "nodes": nodes}


def say(text: str) -> dict[str, str]:
    return {"say": text}


BYE = {"type": "hangup"}


def test_card_service_flow_is_valid() -> None:
    assert check(card_service()) == []


def test_unknown_node_reference_names_the_node_and_the_target() -> None:
    errors = check(flow(hello={"type": "play", "prompt": say("hi"), "next": "menu"}))
    assert errors == [FieldError("nodes.hello.next", "node 'hello' goes to unknown node 'menu'")]


def test_unknown_start() -> None:
    doc = {"start": "nowhere", "nodes": {"bye": BYE}}
    assert check(doc)[0] == FieldError("start", "names unknown node 'nowhere'")


def test_unreachable_node() -> None:
    errors = check(flow(hello={"type": "play", "prompt": say("hi"), "next": "bye"}, bye=BYE, orphan=BYE))
    assert errors == [FieldError("nodes.orphan", "node 'orphan' is unreachable from 'hello'")]


def test_loop_without_exit() -> None:
    menu = {"type": "menu", "prompt": say("1"), "options": {"1": "again"}, "on_invalid": "again"}
    errors = check(flow(menu=menu, again={"type": "play", "prompt": say("x"), "next": "menu"}))
    assert [e.field for e in errors] == ["nodes.again"]
    assert "loop without exit through nodes again, menu" in errors[0].reason


def test_loop_that_never_waits_for_the_caller() -> None:
    doc = flow(
        a={"type": "play", "prompt": say("a"), "next": "b"},
        b={
            "type": "condition",
            "branches": [{"when": {"test": "holiday"}, "next": "bye"}],
            "otherwise": "a",
        },
        bye=BYE,
    )
    errors = check(doc)
    assert [e.field for e in errors] == ["nodes.a"]
    assert "never waits for the caller" in errors[0].reason


def test_a_menu_loop_with_a_way_out_is_fine() -> None:
    menu = {"type": "menu", "prompt": say("1"), "options": {"1": "again", "9": "bye"}, "on_invalid": "bye"}
    assert check(flow(menu=menu, again={"type": "play", "prompt": say("x"), "next": "menu"}, bye=BYE)) == []


def test_missing_prompt_file_is_named_and_existing_one_passes() -> None:
    doc = flow(hello={"type": "play", "prompt": {"file": "welcome/zh.wav"}, "next": "bye"}, bye=BYE)
    assert check(doc) == [FieldError("nodes.hello.prompt", "node 'hello': prompt file 'welcome/zh.wav' does not exist")]
    assert check(doc, files={"welcome/zh.wav"}) == []


def test_unknown_queue() -> None:
    errors = check(flow(q={"type": "queue", "queue": "mortgages"}))
    assert errors == [FieldError("nodes.q.queue", "node 'q' names unknown queue 'mortgages'")]
    errors = check(flow(cb={"type": "callback", "queue": "nope"}))
    assert errors[0].field == "nodes.cb.queue"


def test_variable_used_but_never_set() -> None:
    errors = check(flow(hello={"type": "play", "prompt": say("余额{balance:amount_zh}"), "next": "bye"}, bye=BYE))
    assert errors == [FieldError("nodes.hello.prompt.say", "node 'hello' uses variable 'balance', which no node sets")]


def test_lookup_results_are_not_set_on_the_error_branch() -> None:
    doc = flow(
        ask={
            "type": "lookup",
            "url": "https://bank.example/ivr",
            "send": ["caller"],
            "results": {"balance": "balance"},
            "next": "speak",
            "on_error": "speak",
        },
        speak={"type": "play", "prompt": say("{balance:amount_zh}"), "next": "bye"},
        bye=BYE,
    )
    errors = check(doc)
    assert errors == [
        FieldError("nodes.speak.prompt.say", "node 'speak' uses variable 'balance' before it is set on every path")
    ]


def test_bad_template_and_bad_format_and_builtin_overwrite() -> None:
    doc = flow(
        s={"type": "set", "variables": {"caller": "x", "greeting": "{name!r}"}, "next": "t"},
        t={"type": "transfer", "number": "+86{ext:euros}"},
    )
    fields = {e.field: e.reason for e in check(doc)}
    assert "conversions are not supported" in fields["nodes.s.variables.greeting"]
    assert "unknown format" in fields["nodes.t.number"]
    assert "overwrites the built-in variable caller" in fields["nodes.s"]


def test_priority_variable_must_be_set() -> None:
    doc = flow(q={"type": "queue", "queue": "cards", "priority": {"variable": "tier", "map": {"vip": 50}}})
    assert check(doc)[0].field == "nodes.q.priority.variable"


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"start": "a", "nodes": {"a": {"type": "teleport"}}}, "nodes.a"),
        ({"start": "a", "nodes": {"a": {"type": "play", "prompt": {}, "next": "a"}}}, "nodes.a.play.prompt"),
        ({"start": "a", "nodes": {"a": {"type": "play", "prompt": {"file": "../etc/passwd.wav"}, "next": "a"}}}, None),
        ({"start": "a", "timezone": "Mars/Olympus", "nodes": {"a": BYE}}, "timezone"),
        ({"start": "a", "business_hours": {"mon": ["18:00-09:00"]}, "nodes": {"a": BYE}}, None),
        ({"start": "a", "nodes": {"a": {"type": "hangup", "colour": "red"}}}, "nodes.a.hangup.colour"),
        ({"start": "a", "nodes": {"a": {"type": "queue", "queue": "cards", "priority": 101}}}, None),
        (
            {"start": "a", "nodes": {"a": {"type": "condition", "branches": [], "otherwise": "a"}}},
            "nodes.a.condition.branches",
        ),
    ],
)
def test_malformed_documents_are_refused_with_the_place_named(document: dict[str, Any], field: str | None) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_document(document)
    if field is not None:
        assert any(e.field.startswith(field) for e in caught.value.errors), caught.value.errors


def test_yaml_and_json_text() -> None:
    assert parse_document('{"start": "a", "nodes": {"a": {"type": "hangup"}}}').start == "a"
    assert parse_document("start: a\nnodes:\n  a: {type: hangup}\n", content_type="application/yaml").start == "a"
    for text, kind in (("{not json", "application/json"), ("a: [", "application/yaml"), ("- 1", "application/yaml")):
        with pytest.raises(InvalidInput) as caught:
            parse_document(text, content_type=kind)
        assert caught.value.errors[0].field == "document"


def test_yaml_integer_keys_mean_keys() -> None:
    doc = parse_document(
        "start: m\nnodes:\n  m: {type: menu, prompt: {say: x}, options: {1: q, 0: q}, on_invalid: q}\n"
        "  q: {type: queue, queue: cards, priority: {variable: caller, map: {1: 5}}}\n",
        content_type="application/yaml",
    )
    menu, queue = doc.nodes["m"], doc.nodes["q"]
    assert menu.type == "menu" and set(menu.options) == {"0", "1"}
    assert queue.type == "queue" and not isinstance(queue.priority, int) and queue.priority.map == {"1": 5}
