"""Phone normalisation: formats, types, refusals, and the fast path against phonenumbers."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callvault.contacts.mobile_fast_path import FAST_PATH_PROVEN, MOBILE_RE, pattern_heads
from callvault.contacts.phones import (
    Phone,
    PhoneRejected,
    PhoneType,
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
