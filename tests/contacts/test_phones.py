"""Phone normalisation: formats, types, refusals, and the fast path against phonenumbers."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callvault.contacts.mobile_fast_path import FAST_PATH_PROVEN, MOBILE_RE, pattern_heads
from callvault.contacts.phones import (
    SPELLED_MOBILE_RE,
    Phone,
    PhoneRejected,
    PhoneType,
    clean_phone_text,
    dedupe_key,
    mask_phone,
    normalise_phone,
)

MOBILE = Phone("+8613800138000", PhoneType.MOBILE)


@pytest.mark.parametrize(
    "raw",
    [
        "13800138000",
        " 13800138000 ",
        "138 0013 8000",
        "138-0013-8000",
        "(138)0013-8000",
        "+86 138 0013 8000",
        "+8613800138000",
        "0086 13800138000",
        "8613800138000",
        "１３８００１３８０００",  # noqa: RUF001 - full-width input is the case under test
        "＋８６ １３８－００１３－８０００",  # noqa: RUF001 - full-width input is the case under test
        "13800138000.0",
        "1.3800138000E+10",
        "'13800138000",
        "tel:+86-138-0013-8000",
    ],
)
def test_mobile_spellings_normalise_to_one_e164(raw: str) -> None:
    assert normalise_phone(raw) == MOBILE


@pytest.mark.parametrize(
    ("raw", "e164", "kind"),
    [
        ("010-8888 6666", "+861088886666", PhoneType.FIXED_LINE),
        ("(0755) 8888-6666", "+8675588886666", PhoneType.FIXED_LINE),
        ("400-812-3123", "+864008123123", PhoneType.TOLL_FREE_400),
        ("800 810 1234", "+868008101234", PhoneType.TOLL_FREE_800),
        ("95588", "+8695588", PhoneType.SERVICE_SHORT_CODE),
        ("95555", "+8695555", PhoneType.SERVICE_SHORT_CODE),
        ("10086", "+8610086", PhoneType.SERVICE_SHORT_CODE),
        ("+1 650 253 0000", "+16502530000", PhoneType.FIXED_LINE),
    ],
)
def test_other_line_types(raw: str, e164: str, kind: PhoneType) -> None:
    assert normalise_phone(raw) == Phone(e164, kind)


@pytest.mark.parametrize(
    "raw",
    [
        "110",
        "112",
        "119",
        "120",
        "122",
        "999",
        "911",
        "12110",
        "010-110",
        "0755 119",
        "+86 120",
        "0086110",
        "+86 10 122",
        "021-120",
        "１１０",  # noqa: RUF001 - full-width input is the case under test
    ],
)
def test_emergency_and_special_numbers_are_refused(raw: str) -> None:
    with pytest.raises(PhoneRejected) as refused:
        normalise_phone(raw)
    assert refused.value.code == "phone.emergency"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("", "phone.empty"),
        ("   ", "phone.empty"),
        ("1.38E+10", "phone.scientific_notation"),
        ("1.38001380E+10", "phone.scientific_notation"),
        ("-1.3800138000E+10", "phone.scientific_notation"),
        ("abc", "phone.not_digits"),
        ("138001380000000000000000", "phone.not_digits"),
        ("010-88886666转123", "phone.extension"),
        ("13800138000/13900139000", "phone.not_digits"),
        ("1380013800", "phone.invalid"),
        ("12345678", "phone.invalid"),
        ("114", "phone.special_service"),
    ],
)
def test_unusable_cells_are_rejected_with_a_reason(raw: str, code: str) -> None:
    with pytest.raises(PhoneRejected) as refused:
        normalise_phone(raw)
    assert refused.value.code == code
    assert refused.value.reason


def test_fast_path_is_proven_for_current_metadata() -> None:
    assert FAST_PATH_PROVEN
    assert pattern_heads(r"1(?:3\d|4[57])\d{8}") == {"13", "14"}
    assert pattern_heads(r"(?:10|2\d)\d{5}|400\d{7}") == {"10", "40"} | {f"2{d}" for d in "0123456789"}


def _reference(nsn: str) -> bool:
    number = phonenumbers.parse(nsn, "CN")
    return phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.MOBILE and (
        phonenumbers.is_valid_number(number)
    )


@settings(max_examples=400, deadline=None)
@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True))
def test_fast_path_agrees_with_phonenumbers(nsn: str) -> None:
    assert (MOBILE_RE.fullmatch(nsn) is not None) == _reference(nsn)
    if _reference(nsn):
        assert normalise_phone(nsn) == Phone("+86" + nsn, PhoneType.MOBILE)


@settings(max_examples=200, deadline=None)
@given(
    st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
    st.sampled_from(["{}", "+86{}", "0086 {}", "+86 {a} {b} {c}", "{a}-{b}-{c}", "（{a}）{b} {c}"]),  # noqa: RUF001 - full-width input is the case under test
    st.booleans(),
)
def test_spellings_of_a_mobile_agree_with_phonenumbers(nsn: str, template: str, full_width: bool) -> None:
    raw = template.format(nsn, a=nsn[:3], b=nsn[3:7], c=nsn[7:])
    if full_width:
        raw = raw.translate({ord(d): 0xFF10 + int(d) for d in "0123456789"})
    if not _reference(nsn):
        with pytest.raises(PhoneRejected):
            normalise_phone(raw)
        return
    phone = normalise_phone(raw)
    assert phone == Phone("+86" + nsn, PhoneType.MOBILE)
    assert normalise_phone(phone.e164) == phone  # idempotent on its own output


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789+-() .Ee１２３", max_size=20))  # noqa: RUF001 - full-width input is the case under test
def test_any_cell_is_normalised_or_rejected_never_crashes(raw: str) -> None:
    outcome: Phone | PhoneRejected
    try:
        outcome = normalise_phone(raw)
    except PhoneRejected as refused:
        outcome = refused
    if isinstance(outcome, PhoneRejected):
        assert outcome.code.startswith("phone.")
    else:
        assert outcome.e164.startswith("+")
        assert phonenumbers.parse(outcome.e164).country_code > 0


def test_mask_and_key() -> None:
    assert mask_phone("13800138000") == "138****8000"
    assert mask_phone("95588") == "*****"
    assert dedupe_key("+8613800138000") == 8613800138000
    assert dedupe_key("+999999999999999") < 2**63


# Decimal digit sets other than ASCII and full-width (which `clean_phone_text` folds itself).
_DIGIT_ZEROS = (0x0660, 0x06F0, 0x0966, 0x09E6, 0x0E50, 0xFF10)


@settings(max_examples=300, deadline=None)
@given(
    st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
    st.sampled_from(_DIGIT_ZEROS),
    st.lists(st.booleans(), min_size=11, max_size=11),
    st.sampled_from(["{}", "+86{}", "{a}-{b}-{c}"]),
)
def test_mobiles_in_other_digit_scripts_agree_with_phonenumbers(
    nsn: str, zero: int, swapped: list[bool], template: str
) -> None:
    """Whatever digits a cell uses, the number is the one `phonenumbers` reads, in ASCII E.164 (the fast path
    must not take a non-ASCII digit for a mobile's)."""
    digits = "".join(chr(zero + int(d)) if swap else d for d, swap in zip(nsn, swapped, strict=True))
    raw = template.format(digits, a=digits[:3], b=digits[3:7], c=digits[7:])
    try:
        phone: Phone | None = normalise_phone(raw)
    except PhoneRejected:
        phone = None
    if _reference(nsn):
        assert phone == Phone("+86" + nsn, PhoneType.MOBILE)
    else:
        assert phone is None or phone.type is not PhoneType.MOBILE
    if phone is not None:
        assert phone.e164.isascii()


@settings(max_examples=300, deadline=None)
@given(
    st.from_regex(r"1[0-9]{10}", fullmatch=True),
    st.sampled_from(["", "+86", "+86 "]),
    st.sampled_from([" ", "-"]),
    st.sampled_from([" ", "-"]),
)
def test_spelled_mobile_shortcut_equals_cleaning_first(nsn: str, prefix: str, first: str, second: str) -> None:
    """The spelled-mobile shortcut gives what cleaning the cell and normalising the result gives."""
    raw = f"{prefix}{nsn[:3]}{first}{nsn[3:7]}{second}{nsn[7:]}"
    assert SPELLED_MOBILE_RE.fullmatch(raw)
    cleaned = clean_phone_text(raw)
    assert cleaned == prefix.strip() + nsn
    try:
        expected: Phone | str = normalise_phone(cleaned)
    except PhoneRejected as refused:
        expected = refused.code
    try:
        got: Phone | str = normalise_phone(raw)
    except PhoneRejected as refused:
        got = refused.code
    assert got == expected
    if nsn[1] in "3456789" and _reference(nsn):  # `_reference` parses only numbers phonenumbers can read
        assert got == Phone("+86" + nsn, PhoneType.MOBILE)
