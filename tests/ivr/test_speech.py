"""Prompt templates and how numbers and amounts are spoken in Chinese."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callvault.ivr import speech

DIGIT = {c: i for i, c in enumerate("零一二三四五六七八九")}
SMALL = {"十": 10, "百": 100, "千": 1000}
LARGE = {"万": 10**4, "亿": 10**8}


def parse_integer_zh(text: str) -> int:
    """An independent reader of Chinese numerals below 10^12 (the inverse of integer_zh), for round trips."""
    total, section, digit = 0, 0, 0
    for char in text:
        if char in DIGIT:
            digit = DIGIT[char]
        elif char in SMALL:
            section += (digit or 1) * SMALL[char]
            digit = 0
        elif char in LARGE:
            total += (section + digit) * LARGE[char]
            section, digit = 0, 0
    return total + section + digit


@pytest.mark.parametrize(
    ("value", "spoken"),
    [
        ("1234.5", "一千二百三十四元五角"),
        (1234.56, "一千二百三十四元五角六分"),
        ("12.05", "十二元零五分"),
        (30, "三十元整"),
        ("0.5", "五角"),
        ("0.07", "七分"),
        (0, "零元整"),
        ("100010", "十万零一十元整"),
        ("-8.8", "负八元八角"),
        ("200000005", "二亿零五元整"),
        ("1.005", "一元零一分"),  # rounded half up to the fen
    ],
)
def test_amounts_in_chinese(value: speech.Scalar, spoken: str) -> None:
    assert speech.amount_zh(value) == spoken


@pytest.mark.parametrize(
    ("value", "spoken"),
    [
        (1005, "一千零五"),
        (1050, "一千零五十"),
        (10, "十"),
        (110, "一百一十"),
        (10010, "一万零一十"),
        (3.25, "三点二五"),
    ],
)
def test_numbers_in_chinese(value: speech.Scalar, spoken: str) -> None:
    assert speech.number_zh(value) == spoken


@given(st.integers(min_value=0, max_value=10**12 - 1))
def test_integers_read_back_to_the_same_number(n: int) -> None:
    spoken = speech.integer_zh(n)
    assert parse_integer_zh(spoken) == n
    assert n == 0 or ("零零" not in spoken and not spoken.endswith("零"))


@given(st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False, allow_infinity=False))
def test_amounts_always_name_the_currency(value: Decimal) -> None:
    spoken = speech.amount_zh(str(value))
    assert ("元" in spoken) or ("角" in spoken) or ("分" in spoken)


def test_values_that_are_not_numbers_are_spoken_as_they_are() -> None:
    assert speech.amount_zh("n/a") == "n/a"
    assert speech.amount_zh(None) == ""
    assert speech.digits_zh("6217") == "六二一七"
    assert speech.digits_spaced("6217") == "6 2 1 7"


def test_templates_fill_variables_by_name_only() -> None:
    assert speech.render("余额{balance:amount_zh}。卡号{card:digits_zh}", {"balance": "12.5", "card": "88"}) == (
        "余额十二元五角。卡号八八"
    )
    assert speech.render("{{literal}} {missing}", {}) == "{literal} "
    assert speech.fields("{a} {b:amount_zh}") == [("a", ""), ("b", "amount_zh")]
    for bad in ("{a.__class__}", "{a[0]}", "{a!r}", "{a:euros}", "{", "{A}"):
        with pytest.raises(ValueError, match=r"field|Single|expected"):
            speech.fields(bad)
