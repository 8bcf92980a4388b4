"""Log redaction (SEC-24)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st

from callvault.security.redaction import (
    REDACTED,
    RedactionStyle,
    redact_event_dict,
    redact_text,
    redact_value,
)

from .pii import cards, id_numbers, phones

MASK = RedactionStyle.MASK


def _fw(text: str) -> str:
    """Full-width digits, as typed with a Chinese input method."""
    return text.translate({ord(d): 0xFF10 + int(d) for d in "0123456789"})


separators = st.sampled_from([" ", ":", "=", ",", "\n", "\t", "\uff0c", "\uff1a", "-", "/", "|", '"'])
surrounding = st.text(max_size=24)


def _assert_masked_at(canonical: str, written: str, output: str, at: int) -> None:
    """Redaction keeps length, so the value's slot in the output must show at most 3+4 (+86) of it."""
    slot = output[at : at + len(written)]
    visible = "".join(c for c in slot.upper() if c.isdigit() or c == "X")
    assert visible != canonical.upper()
    assert len(visible) <= 9
    assert slot.count("*") >= min(4, len(canonical) - 4)


@pytest.mark.sec("SEC-24")
@given(
    value=st.one_of(cards(), id_numbers(), phones()),
    before=surrounding,
    after=surrounding,
    s1=separators,
    s2=separators,
)
def test_embedded_value_never_survives(value: tuple[str, str], before: str, after: str, s1: str, s2: str) -> None:
    canonical, written = value
    prefix = before + s1
    text = prefix + written + s2 + after
    _assert_masked_at(canonical, written, redact_text(text, style=MASK), len(prefix))
    # Labels remove the value entirely; "[" and "]" stay so digits on both sides cannot join up.
    labelled = redact_text(text)
    assert canonical.upper() not in "".join(c for c in labelled.upper() if c.isdigit() or c in "X[]")


@pytest.mark.sec("SEC-24")
@given(values=st.lists(st.one_of(cards(), id_numbers(), phones()), min_size=2, max_size=5), sep=separators)
def test_several_values_in_one_line(values: list[tuple[str, str]], sep: str) -> None:
    out = redact_text(sep.join(w for _, w in values), style=MASK)
    at = 0
    for canonical, written in values:
        _assert_masked_at(canonical, written, out, at)
        at += len(written) + len(sep)


@given(text=st.text(alphabet=st.characters(blacklist_categories=["Nd"])))
def test_text_without_digits_is_unchanged(text: str) -> None:
    assert redact_text(text) == text


@given(text=st.text())
def test_never_raises_and_mask_keeps_length(text: str) -> None:
    assert len(redact_text(text, style=MASK)) == len(text)
    redact_text(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("call 13812348000 ok", "call 138****8000 ok"),
        ("id 11010519900307123X end", "id 110***********123X end"),
        ("card 4111 1111 1111 1111 exp 12/26", "card **** **** **** 1111 exp 12/26"),
        ("landline 010-12345678", "landline 010-****5678"),
        ("full-width " + _fw("13812348000"), "full-width " + _fw("138****8000")),
        # Ordinary log content stays readable.
        ("2026-11-23 14:47:16 ip=192.168.1.100 req=123e4567-e89b-12d3", None),
        ("order 12345678 qty 3 port 5060", None),
    ],
)
def test_mask_examples(text: str, expected: str | None) -> None:
    assert redact_text(text, style=MASK) == (text if expected is None else expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("call 13812348000 ok", "call [phone] ok"),
        ("tel +86 138 1234 8000.", "tel [phone]."),
        ("id 11010519900307123X end", "id [id] end"),
        ("card 4111 1111 1111 1111 exp 12/26", "card [card] exp 12/26"),
        ("(010) 12345678 or 010-87654321", "[phone] or [phone]"),
        ("queue 42 waited 1234 ms, order 2026112312", None),
        ("ref 1234567812345678", None),  # 16 digits failing the Luhn check is not a card
    ],
)
def test_label_examples(text: str, expected: str | None) -> None:
    assert redact_text(text) == (text if expected is None else expected)


def _logger() -> Any:
    return structlog.wrap_logger(
        structlog.ReturnLogger(),
        processors=[
            structlog.processors.add_log_level,
            redact_event_dict,
            structlog.processors.JSONRenderer(),
        ],
    )


@pytest.mark.sec("SEC-24")
def test_structlog_processor_redacts_nested_values_keys_and_secrets() -> None:
    line = _logger().info(
        "caller 13812348000 asked",
        contact={"phones": ["13812348000", ("+8613912345678",)], "card": 4111111111111111},
        note=b"id 11010519900307123X",
        password="hunter2-13812348000",
        api_key="abc",
        cvv="123",
        attempts=3,
        ok=True,
    )
    event = json.loads(line)
    assert "13812348000" not in line
    assert "4111111111111111" not in line
    assert "11010519900307123X" not in line
    assert "13912345678" not in line
    assert event["password"] == event["api_key"] == event["cvv"] == REDACTED
    assert event["attempts"] == 3
    assert event["ok"] is True
    assert event["contact"]["card"] == "[card]"


@pytest.mark.sec("SEC-24")
def test_structlog_processor_redacts_exception_text() -> None:
    logger = _logger()
    try:
        raise ValueError("no account for card 4111-1111-1111-1111 / phone 13812348000")
    except ValueError:
        line = logger.error("lookup failed", exc_info=True)
    assert "ValueError" in line
    assert "4111-1111-1111-1111" not in line
    assert "13812348000" not in line
    error = KeyError("13812348000")
    line = logger.error("lookup failed", exc_info=error, error=error)
    assert "13812348000" not in line


def test_redact_value_handles_depth_and_unknown_objects() -> None:
    class Contact:
        def __str__(self) -> str:
            return "Contact(13812348000)"

    nested: Any = "13812348000"
    for _ in range(40):
        nested = [nested]
    assert "13812348000" not in json.dumps(redact_value(nested))
    assert redact_value(Contact()) == "Contact([phone])"
    assert redact_value({1: "x"}) == {1: "x"}


@pytest.mark.parametrize(
    "text",
    [
        "request_id=0190f5c4-7b1a-7c3e-8f00-123456789012 tenant=01234567-1234-5678-9012-345678901234",
        "hash=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "serial ab4111111111111111cd",
        # digests whose digit runs read like a mobile number, at the start or the end of the token
        "head sha256:15919381757b312cb5ce498e8241bbe18e23b23e4537a0fcad6da81b0ee4c8ff",
        "md5=d41d8cd98f00b204e980099813812348000",
        "key cvk.bank-a.013812348000ab17",
        "file matrix-13812348000ab17d41d8cd98f00b204.csv",
    ],
)
def test_ids_and_digests_stay_intact(text: str) -> None:
    assert redact_text(text) == text


@pytest.mark.sec("SEC-24")
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tel13812348000", "tel[phone]"),
        (
            "id=0190f5c4-7b1a-7c3e-8f00-123456789012,pan=4111111111111111",
            "id=0190f5c4-7b1a-7c3e-8f00-123456789012,pan=[card]",
        ),
        (
            "0190f5c4-7b1a-7c3e-8f00-123456789012 4111111111111111",
            "0190f5c4-7b1a-7c3e-8f00-123456789012 [card]",
        ),
    ],
)
def test_values_next_to_ids_are_still_masked(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_a_phone_next_to_a_digest_is_still_redacted() -> None:
    digest = "sha256:15919381757b312cb5ce498e8241bbe18e23b23e4537a0fcad6da81b0ee4c8ff"
    assert redact_text(f"{digest} 13812348000") == f"{digest} [phone]"
    # a token of 32+ characters without a hex letter is not a digest: the numbers in it are still found
    assert "1381234" not in redact_text("13812348000 13812348000 13812348000")
