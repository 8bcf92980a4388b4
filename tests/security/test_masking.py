"""Masking by data class (SEC-33)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callvault.security.masking import (
    CARD_RULE,
    ID_RULE,
    PHONE_RULE,
    DataClass,
    PositionalRule,
    mask,
    mask_positional,
)

ascii_digits = st.text("0123456789", min_size=1, max_size=25)
noisy = st.text(st.sampled_from("0123456789 -+()xX.a张"), max_size=30)


@pytest.mark.sec("SEC-33")
@pytest.mark.parametrize(
    ("value", "data_class", "expected"),
    [
        ("13812348000", DataClass.PHONE, "138****8000"),
        ("+8613812348000", DataClass.PHONE, "+86138****8000"),
        ("+86 138 1234 8000", DataClass.PHONE, "+86 138 **** 8000"),
        ("0086-13812348000", DataClass.PHONE, "0086-138****8000"),
        ("010-12345678", DataClass.PHONE, "010-****5678"),
        ("12345", DataClass.PHONE, "****5"),
        ("1234", DataClass.PHONE, "****"),
        ("110105199003071234", DataClass.ID_NUMBER, "110***********1234"),
        ("11010519900307123X", DataClass.ID_NUMBER, "110***********123X"),
        ("110105900307123", DataClass.ID_NUMBER, "110********7123"),
        ("6222021234567891234", DataClass.BANK_CARD, "622202*********1234"),
        ("4111 1111 1111 1111", DataClass.BANK_CARD, "4111 11** **** 1111"),
        ("张三丰", DataClass.NAME, "张*"),
        ("张三", DataClass.NAME, "张*"),
        ("张", DataClass.NAME, "*"),
        (" Alice Smith ", DataClass.NAME, "A*"),
        ("", DataClass.NAME, ""),
        ("广东省深圳市南山区科技园路1号", DataClass.ADDRESS, "广东省深圳市****"),
        ("北京市朝阳区建国路88号", DataClass.ADDRESS, "北京市****"),
        ("新疆维吾尔自治区乌鲁木齐市天山区", DataClass.ADDRESS, "新疆维吾尔自治区乌鲁木齐市****"),
        ("杭州市西湖区文三路100号", DataClass.ADDRESS, "杭州市****"),
        ("221B Baker Street, London, UK", DataClass.ADDRESS, "****, London, UK"),
        ("10 Downing Street", DataClass.ADDRESS, "****"),
        ("alice@example.com", DataClass.EMAIL, "a***@example.com"),
        ("12345@qq.com", DataClass.EMAIL, "****@qq.com"),
        ("not an address", DataClass.EMAIL, "***"),
    ],
)
def test_examples(value: str, data_class: DataClass, expected: str) -> None:
    assert mask(value, data_class) == expected


def test_none_is_empty() -> None:
    assert mask(None, DataClass.PHONE) == ""


@pytest.mark.sec("SEC-33")
@given(value=st.text(), data_class=st.sampled_from(DataClass))
def test_never_raises_and_is_deterministic(value: str, data_class: DataClass) -> None:
    assert mask(value, data_class) == mask(value, data_class)


def _visible_positions(value: str, masked: str, rule: PositionalRule) -> list[int]:
    """Indexes (among significant characters) that the masked output still shows."""
    shown, i = [], 0
    for original, out in zip(value, masked, strict=True):
        if original.isdigit() or (rule.letters_significant and original.isalpha()):
            if out == original:
                shown.append(i)
            else:
                assert out == "*"
            i += 1
        else:
            assert out in (original, "*")
    return shown


@pytest.mark.sec("SEC-33")
@pytest.mark.parametrize("rule", [PHONE_RULE, ID_RULE, CARD_RULE])
@given(value=st.one_of(ascii_digits, noisy, st.text(max_size=30)))
def test_positional_rules_never_show_more_than_head_and_tail(rule: PositionalRule, value: str) -> None:
    masked = mask_positional(value, rule)
    assert len(masked) == len(value)
    n = sum(1 for c in value if c.isdigit() or (rule.letters_significant and c.isalpha()))
    shown = _visible_positions(value, masked, rule)
    assert len(shown) <= rule.head + rule.tail
    assert n - len(shown) >= min(rule.min_hidden, n)
    assert all(i < rule.head or i >= n - rule.tail for i in shown)


@pytest.mark.sec("SEC-33")
@given(value=st.one_of(ascii_digits, noisy, st.text(max_size=30)))
def test_phone_shows_at_most_seven_digits_besides_country_code(value: str) -> None:
    masked = mask(value, DataClass.PHONE)
    assert len(masked) == len(value)
    body = masked.lstrip()
    for prefix in ("+86", "0086"):
        if body.startswith(prefix) and value.lstrip().startswith(prefix):
            body = body[len(prefix) :]
            break
    assert sum(c.isdigit() for c in body) <= 7


@pytest.mark.sec("SEC-33")
@given(digits=st.from_regex(r"\A1[3-9][0-9]{9}\Z"))
def test_mobile_is_three_plus_four(digits: str) -> None:
    assert mask(digits, DataClass.PHONE) == digits[:3] + "****" + digits[-4:]


@pytest.mark.sec("SEC-33")
@given(card=st.from_regex(r"\A[0-9]{13,19}\Z"))
def test_card_is_bin_plus_last_four_at_most(card: str) -> None:
    masked = mask(card, DataClass.BANK_CARD)
    assert masked[-4:] == card[-4:]
    assert masked[:-4].rstrip("*") == card[: len(masked[:-4].rstrip("*"))]
    assert len(masked[:-4].rstrip("*")) <= 6


@pytest.mark.sec("SEC-33")
@given(value=st.text(max_size=40))
def test_name_address_email_never_show_digits_outside_their_rule(value: str) -> None:
    assert len(mask(value, DataClass.NAME)) <= 2
    assert not any(c.isdigit() for c in mask(value, DataClass.NAME))
    assert not any(c.isdigit() for c in mask(value, DataClass.ADDRESS))
    email = mask(value, DataClass.EMAIL)
    assert email == "***" or (email[1:5] == "***@" and not email[0].isdigit())
